"""Signed market-data REST (KuCoin's full-depth book needs the account's key): the adapter's
md_headers sign every book snapshot and silence probe with the venue's configured credentials and
the clock. Here Binance's adapter, made to sign, against a venue that refuses unsigned snapshots
(a loopback front for the Binance simulator that checks the signature)."""
import hashlib
import hmac
import time

import aiohttp
from aiohttp import web

from venuelink.adapters.binance.adapter import BinanceAdapter
from venuelink import registry
from venuelink.config import Config, VenueConfig
from venuelink.engine import Engine
from venuelink.model import VenueId
from venuelink.sim.server import running_simulator
from tests.waiting import wait_for

SECRET = "md-secret-5b1e"


def _sig(ts: str, path_query: str) -> str:
    return hmac.new(SECRET.encode(), (ts + path_query).encode(), hashlib.sha256).hexdigest()


class SigningBinance(BinanceAdapter):
    def md_headers(self, method, path, query):
        creds = self.md_credentials()
        ts = str(int(time.time() * 1000))
        return {"X-MD-KEY": creds.api_key.reveal(), "X-MD-TS": ts,
                "X-MD-SIGN": hmac.new(creds.api_secret.reveal().encode(), (ts + path + "?" + query).encode(),
                                      hashlib.sha256).hexdigest()}


async def _front(sim_url: str):
    """Every GET forwarded to the simulator; /api/v3/depth only when signed."""
    seen = {"signed": 0, "refused": 0}
    client = aiohttp.ClientSession()

    async def handle(request: web.Request) -> web.Response:
        pq = request.rel_url.path_qs
        if request.path == "/api/v3/depth":
            ts = request.headers.get("X-MD-TS", "")
            ok = (request.headers.get("X-MD-KEY") == "md-key" and ts.isdigit()
                  and abs(int(ts) - time.time() * 1000) < 5000
                  and hmac.compare_digest(request.headers.get("X-MD-SIGN", ""), _sig(ts, pq)))
            if not ok:
                seen["refused"] += 1
                return web.json_response({"code": -2015, "msg": "unsigned market data"}, status=401)
            seen["signed"] += 1
        async with client.get(sim_url + pq) as r:
            return web.Response(body=await r.read(), status=r.status, content_type="application/json")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", seen, runner, client


async def test_book_snapshots_are_signed_where_the_venue_wants_them(monkeypatch):
    monkeypatch.setenv("VL_MD_KEY", "md-key")
    monkeypatch.setenv("VL_MD_SECRET", SECRET)
    old = registry.ADAPTERS.get(VenueId.binance)
    with running_simulator("binance", rate=50) as sim:
        url, seen, runner, client = await _front(sim.rest_url)
        async with aiohttp.ClientSession() as s:              # the front refuses what is not signed
            async with s.get(url + "/api/v3/depth?symbol=BTCUSDT&limit=10") as r:
                assert r.status == 401
        registry.register(VenueId.binance, SigningBinance)
        eng = Engine(Config(venues={"binance": VenueConfig(
            name="binance", rest_url=url, ws_url=sim.ws_url, symbols=["BTC/USDT"],
            api_key_env="VL_MD_KEY", api_secret_env="VL_MD_SECRET")}, metrics_port=0))
        try:
            await eng.start(execution=False)
            fs = eng.runtime("binance").fs_by_symbol["BTC/USDT"]
            assert await wait_for(lambda: fs.sync.is_live, 15)
            assert seen["signed"] >= 1 and seen["refused"] == 1       # only the unsigned try above
        finally:
            await eng.close()
            registry.ADAPTERS[VenueId.binance] = old
            await client.close()
            await runner.cleanup()
