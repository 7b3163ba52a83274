"""OKX v5 simulator over real loopback sockets: instruments, the books stream replayed into the
OKX adapter's parser (checksums, seqId chain, the venue's book), a gap fault, signed REST order
round trips and errors, the private WebSocket's login, orders pushes and order entry, ping/pong."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import aiohttp
import pytest

from venuelink.adapters.okx.adapter import OkxAdapter
from venuelink.adapters.okx.auth import hmac_b64, iso_ms
from venuelink.adapters.okx.simulator import book_checksum, parse_iso_ms
from venuelink import registry
from venuelink.model import VenueId
from venuelink.tools.normalize import Replayer
from venuelink.sim.server import running_simulator

T = aiohttp.ClientTimeout(total=10)


@pytest.fixture(scope="module")
def sim():
    with running_simulator("okx", rate=200, seed=3, depth_fast_ms=10) as s:
        yield s


@pytest.fixture
def okx_registered():
    assert registry.ADAPTERS[VenueId.okx] == "venuelink.adapters.okx.adapter:OkxAdapter"


async def admin(s, sim, path, body=None):
    if body is None:
        async with s.get(sim.admin_url + path) as r:
            assert r.status == 200, await r.text()
            return await r.json()
    async with s.post(sim.admin_url + path, json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def get(s, sim, path):
    async with s.get(sim.rest_url + path) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def signed(s, sim, method, path, body=None, *, secret=None, passphrase=None, ts_ms=None):
    raw = json.dumps(body) if body is not None else ""
    ts = iso_ms(ts_ms if ts_ms is not None else int(time.time() * 1000))
    h = {"OK-ACCESS-KEY": sim.api_key, "OK-ACCESS-TIMESTAMP": ts,
         "OK-ACCESS-SIGN": hmac_b64(secret or sim.api_secret, ts + method + path + raw),
         "OK-ACCESS-PASSPHRASE": passphrase or sim.api_passphrase, "Content-Type": "application/json"}
    async with s.request(method, sim.rest_url + path, data=raw or None, headers=h) as r:
        return r.status, await r.json()


def test_checksum_and_timestamp_helpers():
    # the docs' checksum strings (CRC values computed from them)
    assert book_checksum([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")]) == -1881014294
    assert book_checksum([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")]) == 831078360
    assert parse_iso_ms("2020-12-08T09:08:57.715Z") == 1607418537715
    assert parse_iso_ms("2020-12-08 09:08:57Z") is None


async def test_instruments_time_status_and_public_errors(sim):
    a = OkxAdapter()
    async with aiohttp.ClientSession(timeout=T) as s:
        insts = []
        for path, params in a.instrument_requests():
            async with s.get(sim.rest_url + path, params=params) as r:
                assert r.status == 200
                insts += a.parse_instruments(await r.read())
        by = {i.venue_symbol: i for i in insts}
        assert set(by) == {"BTC-USDT", "ETH-USDT", "BTC-USDT-SWAP", "ETH-USDT-SWAP"} and all(i.active for i in insts)
        assert by["BTC-USDT-SWAP"].symbol == "BTC/USDT:USDT" and by["BTC-USDT-SWAP"].contract_ccy == "BTC"
        async with s.get(sim.rest_url + "/api/v5/public/time") as r:
            assert abs(int((await r.json())["data"][0]["ts"]) - time.time() * 1000) < 5000
        async with s.get(sim.rest_url + "/api/v5/system/status") as r:
            assert await r.json() == {"code": "0", "msg": "", "data": []}
        async with s.get(sim.rest_url + "/api/v5/market/books?instId=NOPE-USDT") as r:
            assert (await r.json())["code"] == "51001"
        async with s.get(sim.rest_url + "/api/v5/public/instruments") as r:
            assert r.status == 400 and (await r.json())["code"] == "50014"
        d = []
        for _ in range(100):          # a just-started market may not have traded yet
            async with s.get(sim.rest_url + "/api/v5/market/trades?instId=BTC-USDT&limit=5") as r:
                d = (await r.json())["data"]
            if d:
                break
            await asyncio.sleep(0.05)
        assert 1 <= len(d) <= 5 and d[0]["side"] in ("buy", "sell")
        await admin(s, sim, "/fault", {"type": "maintenance", "enabled": True})
        try:
            async with s.get(sim.rest_url + "/api/v5/market/books?instId=BTC-USDT") as r:
                assert r.status == 503 and (await r.json())["code"] == "50001"
            async with s.get(sim.rest_url + "/api/v5/system/status") as r:
                assert (await r.json())["data"][0]["state"] == "ongoing"
        finally:
            await admin(s, sim, "/fault", {"type": "maintenance", "enabled": False})


async def test_books_replayed_into_the_parser_match_the_venue(sim, okx_registered):
    """OKX's procedure since the stream lost its snapshot: updates buffered from the subscribe,
    the REST book fetched while they flow, the buffered ones it already holds dropped, the first
    newer one straddling its seqId (prevSeqId <= seqId of the snapshot <= seqId), then the chain."""
    rp = Replayer("okx", open("/dev/null", "w"))
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.get(sim.rest_url + "/api/v5/public/instruments?instType=SPOT") as r:
            body = await r.json()
        assert rp.line(json.dumps({"rest": "/api/v5/public/instruments?instType=SPOT", "body": body})) is None
        async with s.ws_connect(sim.public_ws_url) as ws:
            await ws.send_str(json.dumps({"id": "7", "op": "subscribe",
                                          "args": [{"channel": "books", "instId": "BTC-USDT"}]}))
            ack = json.loads((await ws.receive(timeout=5)).data)
            assert ack["event"] == "subscribe" and ack["id"] == "7" and ack["connId"]
            first = json.loads((await ws.receive(timeout=5)).data)
            assert first["action"] == "update" and "checksum" not in first["data"][0]
            assert rp.line(json.dumps(first)) is None
            fs = rp.parser.symbol("BTC-USDT")
            assert not fs.sync.is_live                  # buffered until the REST book comes
            prev = first["data"][0]["seqId"]
            rest = "/api/v5/market/books?instId=BTC-USDT&sz=400"
            snap_body = None
            for i in range(100):
                if i == 20:
                    async with s.get(sim.rest_url + rest) as r:
                        snap_body = await r.json()
                m = await ws.receive(timeout=5)
                d = json.loads(m.data)["data"][0]
                assert d["prevSeqId"] == prev
                prev = d["seqId"]
                assert rp.line(m.data) is None
            snap_seq = snap_body["data"][0]["seqId"]
            assert first["data"][0]["seqId"] <= snap_seq < prev
            assert not fs.sync.is_live and fs.sync.n_buffered == 101
            assert rp.line(json.dumps({"rest": rest, "body": snap_body})) is None
            assert fs.sync.is_live and fs.book.seq == prev and fs.sync.n_gaps == 0
            await admin(s, sim, "/market", {"action": "pause"})
            try:
                ref = await admin(s, sim, "/book?symbol=BTC-USDT")
                while prev < ref["seq"]:
                    m = await ws.receive(timeout=5)
                    prev = json.loads(m.data)["data"][0]["seqId"]
                    assert rp.line(m.data) is None
                inst = fs.instrument
                bids = [[inst.px_str(p), inst.qty_str(q)] for p, q in fs.book.levels(1)][:100]
                asks = [[inst.px_str(p), inst.qty_str(q)] for p, q in fs.book.levels(2)][:100]
                canon = [[inst.px_str(inst.px(p)), inst.qty_str(inst.qty(q))] for p, q in ref["bids"][:100]]
                assert bids == canon
                assert asks == [[inst.px_str(inst.px(p)), inst.qty_str(inst.qty(q))] for p, q in ref["asks"][:100]]
            finally:
                await admin(s, sim, "/market", {"action": "resume"})
            assert rp.parser.n_checksum_failures == 0 and fs.sync.is_live


async def test_gap_and_checksum_faults(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(sim.public_ws_url) as ws:
            await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": "ETH-USDT"}]}))
            await ws.receive(timeout=5)
            prev = json.loads((await ws.receive(timeout=5)).data)["data"][0]["seqId"]
            await admin(s, sim, "/fault", {"type": "gap", "symbol": "ETH-USDT", "count": 1})
            gaps = 0
            for _ in range(10):
                d = json.loads((await ws.receive(timeout=5)).data)["data"][0]
                if d["prevSeqId"] != prev:
                    assert d["prevSeqId"] > prev
                    gaps += 1
                prev = d["seqId"]
            assert gaps == 1


async def test_ws_errors_ping_and_notice(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(sim.public_ws_url) as ws:
            await ws.send_str("ping")
            assert (await ws.receive(timeout=5)).data == "pong"
            await ws.send_str(json.dumps({"id": "8", "op": "subscribe", "args": [{"channel": "books", "instId": "X"}]}))
            e = json.loads((await ws.receive(timeout=5)).data)
            assert (e["id"], e["event"], e["code"]) == ("8", "error", "60018")
            await ws.send_str(json.dumps({"op": "subscribe", "args": "books"}))
            assert json.loads((await ws.receive(timeout=5)).data)["code"] == "60012"
            await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "mark-price",
                                                                       "instId": "BTC-USDT"}]}))
            assert json.loads((await ws.receive(timeout=5)).data)["code"] == "60018"
            await admin(s, sim, "/fault", {"type": "server_shutdown"})
            n = json.loads((await ws.receive(timeout=5)).data)
            assert (n["event"], n["code"]) == ("notice", "64008")


async def test_index_tickers_of_a_swaps_underlying(sim):
    """index-tickers is subscribed by index name (a listed swap's underlying): the ack, at once a
    push in OKX's field set and string forms with the price near the swap's mark, then periodic
    pushes; an index no listed swap has is refused with 60018 as an unknown instrument is."""
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(sim.public_ws_url) as ws:
            await ws.send_str(json.dumps({"id": "31", "op": "subscribe", "args": [
                {"channel": "index-tickers", "instId": "BTC-USDT"},
                {"channel": "mark-price", "instId": "BTC-USDT-SWAP"}]}))
            got: dict[str, list] = {"index-tickers": [], "mark-price": [], "events": []}
            while len(got["index-tickers"]) < 2 or not got["mark-price"]:
                m = json.loads((await ws.receive(timeout=10)).data)
                if "event" in m:
                    got["events"].append((m["event"], m["arg"]))
                else:
                    got[m["arg"]["channel"]].append(m)
            assert got["events"] == [("subscribe", {"channel": "index-tickers", "instId": "BTC-USDT"}),
                                     ("subscribe", {"channel": "mark-price", "instId": "BTC-USDT-SWAP"})]
            for push in got["index-tickers"]:
                assert push["arg"] == {"channel": "index-tickers", "instId": "BTC-USDT"}
                d, = push["data"]
                assert list(d) == ["instId", "idxPx", "high24h", "low24h", "open24h", "sodUtc0", "sodUtc8", "ts"]
                assert d["instId"] == "BTC-USDT" and all(isinstance(v, str) for v in d.values())
                px = {k: Decimal(d[k]) for k in ("idxPx", "high24h", "low24h", "open24h", "sodUtc0", "sodUtc8")}
                assert all(v > 0 and v == v.quantize(Decimal("0.1")) for v in px.values())
                # the shortest exact form, as OKX writes prices ("60007", "60007.1", never "60007.0")
                assert all("." not in d[k] or not d[k].endswith(("0", ".")) for k in px)
                assert px["low24h"] <= px["idxPx"] <= px["high24h"]
                assert abs(int(d["ts"]) - time.time() * 1000) < 60_000
            mark = Decimal(got["mark-price"][-1]["data"][0]["markPx"])
            assert abs(Decimal(got["index-tickers"][-1]["data"][0]["idxPx"]) - mark) < mark / 100
            for bad in ("SOL-USDT", "BTC-USDT-SWAP"):
                await ws.send_str(json.dumps({"id": "32", "op": "subscribe",
                                              "args": [{"channel": "index-tickers", "instId": bad}]}))
                while True:
                    e = json.loads((await ws.receive(timeout=5)).data)
                    if "event" in e:
                        break
                assert (e["id"], e["event"], e["code"]) == ("32", "error", "60018"), e


async def test_idle_connection_is_closed_and_sub_budget():
    with running_simulator("okx", rate=20, idle_timeout_s=0.6, sub_ops=2) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            async with s.ws_connect(sim.public_ws_url) as ws:
                for i in range(3):
                    await ws.send_str(json.dumps({"op": "subscribe",
                                                  "args": [{"channel": "trades", "instId": "BTC-USDT"}]}))
                got = []
                while True:
                    m = await ws.receive(timeout=5)
                    if m.type != aiohttp.WSMsgType.TEXT:
                        break
                    d = json.loads(m.data)
                    if "event" in d:
                        got.append(d.get("code", d["event"]))
                assert got == ["subscribe", "subscribe", "60014"]
                assert ws.close_code == 4004


async def test_signed_order_round_trip_and_auth_errors(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        book = await admin(s, sim, "/book?symbol=BTC-USDT&limit=1")
        far = str(Decimal(book["bids"][0][0]) - 5000)
        st, r = await signed(s, sim, "POST", "/api/v5/trade/order", {
            "instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": far, "sz": "0.01",
            "clOrdId": "rt1"})
        assert st == 200 and r["code"] == "0" and r["data"][0]["sCode"] == "0", r
        oid = r["data"][0]["ordId"]
        st, r = await signed(s, sim, "POST", "/api/v5/trade/order", {
            "instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": far, "sz": "0.01",
            "clOrdId": "rt1"})
        assert r["code"] == "1" and r["data"][0]["sCode"] == "51016"
        st, r = await signed(s, sim, "POST", "/api/v5/trade/order", {
            "instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": far, "sz": "100000"})
        assert r["data"][0]["sCode"] == "51008"
        st, r = await signed(s, sim, "GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=rt1")
        o = r["data"][0]
        assert (o["ordId"], o["state"], o["px"], o["sz"], o["side"]) == (oid, "live", far, "0.01", "buy")
        st, r = await signed(s, sim, "GET", "/api/v5/trade/orders-pending?instType=SPOT")
        assert oid in [x["ordId"] for x in r["data"]]
        st, r = await signed(s, sim, "POST", "/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": oid})
        assert r["code"] == "0" and r["data"][0]["ordId"] == oid
        st, r = await signed(s, sim, "POST", "/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": oid})
        assert r["data"][0]["sCode"] == "51401"
        st, r = await signed(s, sim, "GET", f"/api/v5/trade/order?instId=BTC-USDT&ordId={oid}")
        assert r["data"][0]["state"] == "canceled"
        st, r = await signed(s, sim, "GET", "/api/v5/trade/order?instId=BTC-USDT&ordId=42")
        assert r["code"] == "51603"
        # a market sell fills: fills and a negative-or-zero fee
        st, r = await signed(s, sim, "POST", "/api/v5/trade/order", {
            "instId": "BTC-USDT", "tdMode": "cash", "side": "sell", "ordType": "market", "sz": "0.001"})
        oid2 = r["data"][0]["ordId"]
        st, r = await signed(s, sim, "GET", f"/api/v5/trade/fills?instType=SPOT&ordId={oid2}")
        assert r["data"] and all(f["ordId"] == oid2 and f["execType"] == "T" for f in r["data"])
        st, r = await signed(s, sim, "GET", "/api/v5/account/balance?ccy=BTC")
        assert r["data"][0]["details"][0]["ccy"] == "BTC"
        st, r = await signed(s, sim, "GET", "/api/v5/account/balance", secret="0" * 32)
        assert (st, r["code"]) == (401, "50113")
        st, r = await signed(s, sim, "GET", "/api/v5/account/balance", passphrase="wrong")
        assert r["code"] == "50105"
        st, r = await signed(s, sim, "GET", "/api/v5/account/balance", ts_ms=int(time.time() * 1000) - 60_000)
        assert r["code"] == "50102"
        st, r = await signed(s, sim, "POST", "/api/v5/trade/cancel-all-after", {"timeOut": "5"})
        assert r["code"] == "51000"
        st, r = await signed(s, sim, "POST", "/api/v5/trade/cancel-all-after", {"timeOut": "0"})
        assert r["code"] == "0"


async def test_batch_orders_fills_history_and_tgt_ccy_on_a_spot_limit(sim):
    """Documented OKX requests CCXT's okx client makes: batch-orders (one answer item per order,
    envelope "0" / "1" / "2"), fills-history (instType required), tgtCcy on a spot limit order
    (only applicable to market orders, so accepted and unused); tgtCcy stays refused on swaps."""
    async with aiohttp.ClientSession(timeout=T) as s:
        book = await admin(s, sim, "/book?symbol=BTC-USDT&limit=1")
        far = str(Decimal(book["bids"][0][0]) - 5000)
        limit = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": far,
                 "sz": "0.01", "tgtCcy": "base_ccy"}
        st, r = await signed(s, sim, "POST", "/api/v5/trade/batch-orders", [
            {**limit, "clOrdId": "bo1"},
            {"instId": "BTC-USDT", "tdMode": "cash", "side": "sell", "ordType": "market", "sz": "0.001",
             "tgtCcy": "base_ccy", "clOrdId": "bo2"}])
        assert st == 200 and r["code"] == "0" and [d["sCode"] for d in r["data"]] == ["0", "0"], r
        assert [d["clOrdId"] for d in r["data"]] == ["bo1", "bo2"]
        oid2 = r["data"][1]["ordId"]
        st, r = await signed(s, sim, "POST", "/api/v5/trade/batch-orders", [{**limit, "clOrdId": "bo1"},
                                                                          {**limit, "clOrdId": "bo3"}])
        assert r["code"] == "2" and [d["sCode"] for d in r["data"]] == ["51016", "0"], r
        st, r = await signed(s, sim, "POST", "/api/v5/trade/batch-orders", [{**limit, "clOrdId": "bo1"}])
        assert r["code"] == "1" and r["data"][0]["sCode"] == "51016"
        st, r = await signed(s, sim, "POST", "/api/v5/trade/batch-orders", [{**limit, "clOrdId": f"bx{i}"}
                                                                          for i in range(21)])
        assert r["code"] == "51000"
        st, r = await signed(s, sim, "GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=bo1")
        assert r["data"][0]["state"] == "live" and r["data"][0]["px"] == far
        st, r = await signed(s, sim, "GET", f"/api/v5/trade/fills-history?instType=SPOT&ordId={oid2}")
        assert r["code"] == "0" and r["data"] and all(f["ordId"] == oid2 and f["clOrdId"] == "bo2" for f in r["data"])
        st, r = await signed(s, sim, "GET", f"/api/v5/trade/fills-history?ordId={oid2}")
        assert r["code"] != "0"
        st, r = await signed(s, sim, "POST", "/api/v5/trade/order", {
            "instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1",
            "tgtCcy": "base_ccy"})
        assert r["data"][0]["sCode"] == "51000" and "tgtCcy" in r["data"][0]["sMsg"]
        for cid in ("bo1", "bo3"):
            st, r = await signed(s, sim, "POST", "/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "clOrdId": cid})
            assert r["code"] == "0"


async def test_private_ws_login_orders_and_order_entry(sim):
    async with aiohttp.ClientSession(timeout=T) as s:
        async with s.ws_connect(sim.private_ws_url) as ws:
            async def recv():
                return json.loads((await ws.receive(timeout=5)).data)
            ts = str(int(time.time()))
            await ws.send_str(json.dumps({"op": "login", "args": [{"apiKey": sim.api_key, "passphrase": sim.api_passphrase,
                                                                   "timestamp": ts, "sign": "AAAA"}]}))
            assert (await recv())["event"] == "error"
            await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}))
            assert (await recv())["code"] == "60011"
            sig = hmac_b64(sim.api_secret, ts + "GET/users/self/verify")
            await ws.send_str(json.dumps({"op": "login", "args": [{"apiKey": sim.api_key, "passphrase": sim.api_passphrase,
                                                                   "timestamp": ts, "sign": sig}]}))
            assert (await recv()) | {"connId": ""} == {"event": "login", "code": "0", "msg": "", "connId": ""}
            await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}))
            assert (await recv())["event"] == "subscribe"
            book = await admin(s, sim, "/book?symbol=ETH-USDT&limit=1")
            px = str(Decimal(book["bids"][0][0]) - 500)
            # since March 2026 the instrument of a WebSocket order operation is its instIdCode only
            code = next(d["instIdCode"] for d in (await get(s, sim, "/api/v5/public/instruments?instType=SPOT"))["data"]
                        if d["instId"] == "ETH-USDT")
            await ws.send_str(json.dumps({"id": "1511", "op": "order", "args": [{
                "instId": "ETH-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": px, "sz": "0.01",
                "clOrdId": "ws0"}]}))
            assert (await recv()) | {"inTime": "", "outTime": ""} == {
                "id": "1511", "op": "order", "code": "50014", "msg": "Parameter instIdCode can not be empty", "data": [],
                "inTime": "", "outTime": ""}
            await ws.send_str(json.dumps({"id": "1512", "op": "order", "args": [{
                "instIdCode": code, "tdMode": "cash", "side": "buy", "ordType": "limit", "px": px, "sz": "0.01",
                "clOrdId": "ws1"}]}))
            got = [await recv(), await recv()]
            reply = next(g for g in got if g.get("id") == "1512")
            push = next(g for g in got if "arg" in g)
            assert reply["op"] == "order" and reply["code"] == "0" and reply["data"][0]["clOrdId"] == "ws1"
            d = push["data"][0]
            assert push["arg"]["channel"] == "orders" and (d["state"], d["clOrdId"], d["px"]) == ("live", "ws1", px)
            await ws.send_str(json.dumps({"id": "1513", "op": "cancel-order", "args": [{"instIdCode": code,
                                                                                     "clOrdId": "ws1"}]}))
            got = [await recv(), await recv()]
            assert any(g.get("id") == "1513" and g["code"] == "0" for g in got)
            assert any("arg" in g and g["data"][0]["state"] == "canceled" for g in got)
            await ws.send_str("ping")
            assert (await ws.receive(timeout=5)).data == "pong"


def test_keyed_rules_count_per_key_and_only_their_names():
    from venuelink.sim.limits import KEYED, ORDERS, RateLimiter, Rule
    lim = RateLimiter([Rule(KEYED, "SECOND", 2, 2, "PLACE_2S"), Rule(KEYED, "SECOND", 2, 5, "CANCEL_2S"),
                       Rule(ORDERS, "SECOND", 2, 100, "ALL")], clock=lambda: 100.0)
    assert lim.check_bucket("a/BTC-USDT", ["PLACE_2S"]).allowed
    assert lim.check_bucket("a/BTC-USDT", ["PLACE_2S"]).allowed
    d = lim.check_bucket("a/BTC-USDT", ["PLACE_2S"])
    assert not d.allowed and d.status == 429 and d.rule.name == "PLACE_2S"
    assert lim.check_bucket("a/ETH-USDT", ["PLACE_2S"]).allowed          # another instrument: its own count
    assert lim.check_bucket("a/BTC-USDT", ["CANCEL_2S"]).allowed         # another bucket
    assert lim.check_request("1.2.3.4", 1).allowed                       # keyed rules never count requests
    assert lim.usage("a", ORDERS) == [(lim.rules[2], 0)]


async def test_place_limit_per_instrument_checksum_fault_and_cancel_all_after(okx_registered):
    # the checksum as OKX sent it until early August 2026 (--legacy-books), still read and compared
    with running_simulator("okx", rate=50, limit=["PLACE_2S=2"], legacy_books=True) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            book = await admin(s, sim, "/book?symbol=BTC-USDT&limit=1")
            far = str(Decimal(book["bids"][0][0]) - 5000)
            order = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": far,
                     "sz": "0.001"}
            codes = []
            for _ in range(3):
                st, r = await signed(s, sim, "POST", "/api/v5/trade/order", order)
                codes.append((st, r["code"]))
            if codes[-1] == (200, "0"):          # the 2 s window turned between the requests
                st, r = await signed(s, sim, "POST", "/api/v5/trade/order", order)
                codes.append((st, r["code"]))
            assert (429, "50011") in codes
            eth = dict(order, instId="ETH-USDT", px="100")
            st, r = await signed(s, sim, "POST", "/api/v5/trade/order", eth)
            assert r["code"] == "0", r
            rp = Replayer("okx", open("/dev/null", "w"))
            async with s.get(sim.rest_url + "/api/v5/public/instruments?instType=SPOT") as r:
                rp.line(json.dumps({"rest": "/api/v5/public/instruments?instType=SPOT", "body": await r.json()}))
            async with s.ws_connect(sim.public_ws_url) as ws:
                await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]}))
                await ws.receive(timeout=5)
                m = await ws.receive(timeout=5)
                snap = json.loads(m.data)["data"][0]
                assert snap["checksum"] == book_checksum([tuple(lv[:2]) for lv in snap["bids"]],
                                                         [tuple(lv[:2]) for lv in snap["asks"]])
                rp.line(m.data)
                for _ in range(5):
                    rp.line((await ws.receive(timeout=5)).data)
                assert rp.parser.n_checksum_failures == 0 and rp.parser.symbol("BTC-USDT").sync.is_live
                await admin(s, sim, "/fault", {"type": "checksum", "symbol": "BTC-USDT", "count": 1})
                for _ in range(5):
                    rp.line((await ws.receive(timeout=5)).data)
                assert rp.parser.n_checksum_failures == 1
            st, r = await signed(s, sim, "POST", "/api/v5/trade/cancel-all-after", {"timeOut": "10"})
            assert r["code"] == "0" and int(r["data"][0]["triggerTime"]) > time.time() * 1000
            st, r = await signed(s, sim, "GET", "/api/v5/trade/orders-pending")
            assert len(r["data"]) >= 2
            await asyncio.sleep(10.5)
            st, r = await signed(s, sim, "GET", "/api/v5/trade/orders-pending")
            assert r["data"] == []


async def test_engine_receives_every_derivatives_event_of_a_swap():
    """Through the engine on the simulator: mark price, funding rate, open interest and
    liquidations of BTC/USDT:USDT arrive normalized; the shared liquidation topic is subscribed
    once for the connection and another swap's liquidations reach only that swap's callbacks."""
    from venuelink.config import Config, VenueConfig
    from venuelink.derivatives import FundingRate, IndexPrice, Liquidation, MarkPrice, OpenInterest
    from venuelink.engine import Engine
    with running_simulator("okx", rate=50, seed=4, deriv_interval_ms=100, funding_interval_s=0.5) as sim:
        syms = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
        # the spot BTC/USDT streams on the same connection: its instId is the swap's index name
        eng = Engine(Config(venues={"okx": VenueConfig(name="okx", rest_url=sim.rest_url, ws_url=sim.ws_url,
                                                      symbols=syms + ["BTC/USDT"])}, metrics_port=0))
        got = {s: [] for s in syms}
        for s in syms:
            eng.subscribe_derivatives("okx", s, got[s].append)
        rt = eng.runtime("okx")
        every_event = []                # all the parsers hand the engine, whoever subscribed
        deliver = rt.on_derivative

        def seen(ev):
            every_event.append(ev)
            deliver(ev)
        rt.on_derivative = seen
        try:
            await eng.start(execution=False)
            kinds = (MarkPrice, FundingRate, OpenInterest, Liquidation, IndexPrice)
            end = time.monotonic() + 20
            while time.monotonic() < end and not all(any(isinstance(e, k) for e in got[syms[0]]) for k in kinds):
                await asyncio.sleep(0.1)
            btc = got[syms[0]]
            assert all(any(isinstance(e, k) for e in btc) for k in kinds), [type(e).__name__ for e in btc]
            assert all(e.instrument.symbol == syms[0] for e in btc)
            oi = next(e for e in btc if isinstance(e, OpenInterest))
            assert oi.size > 0 and oi.to_json()["contract_size"]
            liq = next(e for e in btc if isinstance(e, Liquidation))
            assert liq.price > 0 and liq.size > 0
            idx = [e for e in btc if isinstance(e, IndexPrice)]
            assert all(isinstance(e.price, int) and e.price > 0 and e.ts_exchange > 0 for e in idx)
            mark = next(e for e in btc if isinstance(e, MarkPrice))
            assert abs(idx[-1].price - mark.price) < mark.price // 100       # the swap's index, near its mark
            assert idx[-1].to_json()["price"] == mark.instrument.px_str(idx[-1].price)
            # the index BTC-USDT is the swap's: nothing reached the spot pair, none went astray
            assert every_event and not any(e.instrument.symbol == "BTC/USDT" for e in every_event)
            assert {e.instrument.symbol for e in every_event if isinstance(e, IndexPrice)} <= set(syms)
            assert rt.fs_by_symbol["BTC/USDT"].n_msgs > 0 and not rt.fs_by_symbol["BTC/USDT"].want_derivs
            topics = [t for s in rt.sessions for t in s.topics]
            assert topics.count("liquidation-orders:SWAP") == 1
            assert topics.count("index-tickers:BTC-USDT") == 1 and "index-tickers:ETH-USDT" in topics
        finally:
            await eng.close()


async def test_book_snapshots_have_their_own_bucket_in_the_adapter_and_the_simulator():
    """GET /api/v5/market/books is charged to BOOKS_2S (40 per 2 s per IP), not to the public bucket
    of the other endpoints: a burst of snapshots neither waits behind nor starves instruments and
    status reads. The simulator counts it the same way."""
    from venuelink.adapters.okx.spec import SPEC
    from venuelink.ext.ratelimit import Priority
    a = OkxAdapter()
    path, params = a.snapshot_request(type("I", (), {"venue_symbol": "BTC-USDT"})())
    assert (path, params) == ("/api/v5/market/books", {"instId": "BTC-USDT", "sz": "400"})
    assert a.rest_cost("GET", path, params) == ({"BOOKS_2S": 1}, Priority.SNAPSHOT)
    assert a.rest_cost("GET", "/api/v5/public/instruments", {}) == ({"PUBLIC_2S": 1}, Priority.SNAPSHOT)
    books = next(b for b in SPEC.buckets if b.name == "BOOKS_2S")
    assert (books.limit, books.window_s) == (40, 2)
    with running_simulator("okx", rate=20, limit=["BOOKS_2S=2", "PUBLIC_2S=3"]) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            codes = []
            for _ in range(3):
                async with s.get(sim.rest_url + "/api/v5/market/books?instId=BTC-USDT&sz=5") as r:
                    codes.append((r.status, (await r.json())["code"]))
            if codes[-1] == (200, "0"):          # the 2 s window turned between the requests
                async with s.get(sim.rest_url + "/api/v5/market/books?instId=BTC-USDT&sz=5") as r:
                    codes.append((r.status, (await r.json())["code"]))
            assert (429, "50011") in codes and codes[0] == (200, "0")
            async with s.get(sim.rest_url + "/api/v5/public/time") as r:
                assert r.status == 200                       # the public bucket is untouched by them


async def test_a_quiet_book_goes_live_from_its_snapshot_without_waiting_for_an_update(okx_registered):
    """OKX pushes nothing for a book that does not change (a keep-alive after a minute), and the
    book starts from the REST snapshot: the engine fetches it for a book still quiet a second after
    its connection opened, instead of waiting for the first update."""
    from venuelink.config import Config
    from venuelink.engine import Engine
    from tests.tiers import venue_config
    from tests.waiting import wait_for
    with running_simulator("okx", rate=50, seed=4) as sim:
        async with aiohttp.ClientSession(timeout=T) as s:
            await admin(s, sim, "/market", {"action": "pause"})
            eng = Engine(Config(venues={"okx": venue_config("okx", "native", sim, ["BTC/USDT"])}, metrics_port=0))
            try:
                await eng.start(execution=False)
                rt = eng.runtime("okx")
                fs = rt.fs_by_symbol["BTC/USDT"]
                assert await wait_for(lambda: fs.sync.is_live, 8)
                assert fs.sync.n_buffered == 0 and rt.snapshot_requests == 1
                ref = await admin(s, sim, "/book?symbol=BTC-USDT&limit=5")
                inst = fs.instrument
                assert fs.book.top(1, 5) == [(inst.px(p), inst.qty(q)) for p, q in ref["bids"]]
                await admin(s, sim, "/market", {"action": "resume"})
                n = fs.sync.n_applied
                assert await wait_for(lambda: fs.sync.n_applied > n + 3, 10)     # the updates chain on
                assert fs.sync.is_live and fs.sync.n_gaps == 0
            finally:
                await eng.close()
