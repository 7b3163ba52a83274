"""The per-venue cap on new WebSocket connections: a sliding window, first come first served,
shared by every connection of the venue (market data and private), so a reconnect storm after a
network blip never opens more connections than the venue allows."""
import asyncio

import pytest
from aiohttp import web

from venuelink.pacing import ConnectPacer
from venuelink.registry import create
from venuelink.session import WsSession


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_sliding_window_delay():
    c = Clock()
    p = ConnectPacer(3, 1.0, clock=c)
    assert p.delay() == 0
    for _ in range(3):
        p._starts.append(c())
        c.t += 0.1
    assert p.delay() == pytest.approx(0.7)        # the first start leaves the window at 101.0
    c.t = 101.0
    assert p.delay() == 0
    assert ConnectPacer(0, 0).delay() == 0        # no cap stated
    with pytest.raises(ValueError):
        ConnectPacer(3, 0)
    with pytest.raises(ValueError):
        ConnectPacer(-1, 1)


def test_venue_caps_are_declared():
    assert (create("okx").spec.max_connects, create("okx").spec.connect_window_s) == (3, 1.0)
    assert (create("binance").spec.max_connects, create("binance").spec.connect_window_s) == (300, 300.0)


async def test_connections_of_a_venue_share_the_cap():
    """Five market-data sessions started at once against a loopback server, with a cap of 2 per
    0.4 s: the server sees them arrive in three waves, never more than 2 inside any 0.4 s."""
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []

    async def handler(request):
        arrivals.append(loop.time())
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    pacer = ConnectPacer(2, 0.4)
    a = create("binance")
    sessions = [WsSession(f"s{i}", f"ws://127.0.0.1:{port}/ws", a.make_parser(None), connect_pacer=pacer)
                for i in range(5)]
    try:
        for s in sessions:
            s.start()
        for _ in range(200):
            if len(arrivals) == 5:
                break
            await asyncio.sleep(0.02)
        assert len(arrivals) == 5
        arrivals.sort()
        for i in range(2, 5):
            assert arrivals[i] - arrivals[i - 2] >= 0.4 - 0.02     # never 3 inside one window
        assert pacer.waits >= 2
    finally:
        for s in sessions:
            await s.close()
        await runner.cleanup()
