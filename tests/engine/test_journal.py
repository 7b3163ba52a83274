"""`run --journal` logs every transition, not a sample: a connection that drops and is back before
the next journal line, and the book states it went through, are all in the log."""
import asyncio

from venuelink.config import Config
from venuelink.engine import Engine
from venuelink.model import BookState
from venuelink.tools.run import StatusView
from venuelink.sim.server import running_simulator_async
from tests.engine.conftest import admin, venue_config
from tests.waiting import wait_for


async def test_a_reconnect_between_two_journal_lines_is_logged_with_every_book_transition():
    async with running_simulator_async("binance", rate=100, seed=3, depth_fast_ms=10) as sim:
        vc = venue_config(sim)
        vc.api_key_env = vc.api_secret_env = ""        # market data only
        vc.ws_api_url = ""
        eng = Engine(Config(venues={"binance": vc}, metrics_port=0))
        try:
            await eng.start()
            view = StatusView(eng)
            view.follow_transitions()
            rt = eng.runtime("binance")
            fs = rt.fs_by_symbol["BTC/USDT"]
            assert await wait_for(lambda: fs.sync.state == BookState.LIVE, 20)
            first = view.journal(3600)
            assert any("book BTC/USDT: - -> " in ln for ln in first), first
            sess = rt.sessions[0]
            connects = sess.connects
            await admin(sim, "POST", "/fault", {"type": "disconnect", "scope": "market"})
            assert await wait_for(lambda: sess.connects > connects and fs.sync.state == BookState.LIVE, 20)
            await asyncio.sleep(0.1)
            lines = view.journal(3600)
            text = "\n".join(lines)
            assert f"connection {sess.name}: reconnected 1 time(s)" in text, text
            book = [ln for ln in lines if "book BTC/USDT:" in ln]
            # out of LIVE and back again, both logged although the book was LIVE at both journal calls
            assert len(book) >= 2 and book[0].startswith("binance book BTC/USDT: LIVE -> "), book
            assert "-> LIVE" in book[-1], book
        finally:
            await eng.close()
