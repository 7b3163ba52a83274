"""Admin HTTP API of a simulator, mounted under ``/__sim/`` on the venue's own port.

Admin requests are never rate limited and never hit by faults.

=======  ==========================  ==========================================================
GET      /__sim/status               venue, symbols, rate, connections, limits, fault state
GET      /__sim/book?symbol=S        authoritative book, the same shape for every venue:
         [&limit=N]                  {"symbol": venue symbol, "seq": int, "bids": [[price, qty], ..], "asks": ..}
                                     (full depth unless ``limit``; plain decimal strings, best first)
GET      /__sim/account[?account=A]  balances, open orders, order/trade counts
GET      /__sim/ledger[?account=A]   every order and fill of the account (see ``SimVenue.ledger``)
GET      /__sim/trades?symbol=S      the last 1000 public trades, oldest first: {"symbol", "trades":
                                     [[trade id, price, qty, taker side "buy"|"sell", ts ms], ..]}
GET      /__sim/requests             the last 5000 REST requests: [epoch s, method, path, status, Retry-After]
GET      /__sim/faults               current fault switches
POST     /__sim/fault                one fault spec or a list (see ``venuelink.sim.faults``)
POST     /__sim/market               {"action": "pause" | "resume" | "step", "n": 1}
                                     -> {"paused", "steps", "seq": {symbol: int}}
POST     /__sim/limits               {"action": "reset"}: forget all rate-limit counters and bans
=======  ==========================  ==========================================================
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from venuelink.sim.core import SimVenue
from venuelink.sim.faults import FaultError

PREFIX = "/__sim"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def _err(msg: str, status: int = 400) -> web.Response:
    return _json({"error": msg}, status)


def add_admin_routes(app: web.Application, venue: SimVenue, default_account: str | None = None) -> None:
    async def status(request: web.Request) -> web.Response:
        return _json(venue.status())

    async def book(request: web.Request) -> web.Response:
        sym = request.query.get("symbol", "")
        if sym not in venue.markets:
            return _err(f"unknown symbol {sym!r}", 404)
        limit = request.query.get("limit")
        try:
            n = int(limit) if limit is not None else None
        except ValueError:
            return _err("limit must be an integer")
        return _json(venue.book(sym, n))

    async def account(request: web.Request) -> web.Response:
        aid = request.query.get("account") or default_account or next(iter(venue.accounts), "")
        if aid not in venue.accounts:
            return _err(f"unknown account {aid!r}", 404)
        return _json(venue.account_view(aid))

    async def ledger(request: web.Request) -> web.Response:
        aid = request.query.get("account") or default_account or next(iter(venue.accounts), "")
        if aid not in venue.accounts:
            return _err(f"unknown account {aid!r}", 404)
        return _json(venue.ledger(aid))

    async def trades(request: web.Request) -> web.Response:
        sym = request.query.get("symbol", "")
        if sym not in venue.markets:
            return _err(f"unknown symbol {sym!r}", 404)
        m = venue.markets[sym]
        pf, qf = m.price_scale.format, m.qty_scale.format
        return _json({"symbol": sym, "trades": [[t.trade_id, pf(t.price), qf(t.qty), t.taker_side.lower(), t.ts]
                                                for t in venue.recent_trades[sym]]})

    async def requests(request: web.Request) -> web.Response:
        return _json({"requests": list(venue.request_log)})

    async def faults(request: web.Request) -> web.Response:
        return _json(venue.faults.state())

    async def fault(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _err("body must be JSON")
        specs = body if isinstance(body, list) else [body]
        results = []
        try:
            for spec in specs:
                results.append(await venue.apply_fault(spec))
        except FaultError as e:
            return _err(str(e))
        return _json({"applied": results, "faults": venue.faults.state()})

    async def market(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _err("body must be JSON")
        action = body.get("action") if isinstance(body, dict) else None
        if action == "pause":
            venue.paused = True
        elif action == "resume":
            venue.paused = False
        elif action == "step":
            n = body.get("n", 1)
            if not isinstance(n, int) or not 0 < n <= 100_000:
                return _err("n must be an integer in 1..100000")
            venue.step_all(n)
        else:
            return _err("action must be pause, resume or step")
        return _json({"paused": venue.paused, "steps": venue.steps,
                      "seq": {s: m.update_id for s, m in venue.markets.items()}})

    async def limits(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {}
        if not isinstance(body, dict) or body.get("action", "reset") != "reset":
            return _err("action must be reset")
        venue.limiter.reset()
        return _json({"reset": True})

    app.router.add_get(PREFIX + "/status", status)
    app.router.add_get(PREFIX + "/book", book)
    app.router.add_get(PREFIX + "/account", account)
    app.router.add_get(PREFIX + "/ledger", ledger)
    app.router.add_get(PREFIX + "/requests", requests)
    app.router.add_get(PREFIX + "/trades", trades)
    app.router.add_get(PREFIX + "/faults", faults)
    app.router.add_post(PREFIX + "/fault", fault)
    app.router.add_post(PREFIX + "/market", market)
    app.router.add_post(PREFIX + "/limits", limits)


def is_admin_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")
