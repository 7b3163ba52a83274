"""Venue simulators: venue-neutral machinery shared by every simulated exchange.

Layout
------
``market``    random-walk L2 book generator (integer ticks / lots), change batches, trades
``matching``  per-symbol matching engine + accounts/balances over a ``MarketSim`` book
``limits``    server-side rate limits (fixed windows, 429 -> 418 escalation)
``faults``    runtime fault switches (sequence gaps, delays, disconnects, lost acks, 5xx ...)
``wsconn``    server-side WebSocket connection: send queue, pings, inbound message cap, max age
``core``      ``SimVenue``: markets + engines + accounts + market loop + fault actions
``admin``     ``/__sim/`` admin HTTP API (book dump, account state, faults, market control)
``server``    process harness: ``running_simulator("binance", ...)`` / in-process variant

A venue dialect (e.g. ``adapters.binance.simulator``) builds a ``SimVenue`` and adds its own
wire format, signing check, error bodies and limit values on top.

Writing a dialect for another venue
-----------------------------------
1. Declare ``SymbolSpec``s (tick, lot, mid, filters) and the venue's limit ``Rule``s.
2. Build ``SimVenue(name, specs, limiter=RateLimiter(rules, ...), accounts=..., seed=, rate=)``.
3. Set ``venue.on_batch`` (render book diffs / trades / tickers from a ``Batch``; use
   ``DiffAccumulator`` for time-aggregated diffs and ``faults.take_md_drop`` before sending),
   ``venue.on_account_event`` (render ``ExecEvent`` / ``BalanceEvent``) and optionally
   ``venue.on_shutdown_notice``.
4. Serve WebSockets with ``WsConn(request, kind="market"|"user", faults=, hub=venue.hub, ...)``
   and ``conn.serve(on_text)``; subscribe connections to topics with ``venue.hub.subscribe``.
5. REST: check ``limiter.check_request(ip, weight)`` / ``check_order(account)``, verify the
   venue's signature, call ``venue.place(...)`` / ``venue.engines[sym].cancel(...)``, consult
   ``faults.take_order_fault()`` and ``faults.take_http_error(path)``.
6. ``add_admin_routes(app, venue)``; store the venue as ``app[SIM_VENUE_KEY]``; start it in
   ``on_startup`` and stop it in ``on_shutdown``.
7. Module-level ``build_arg_parser`` / ``config_from_args`` / ``config_from_options`` /
   ``create_app`` / ``report`` / ``main`` (see ``engine.sim.server``) and one line in
   ``engine.sim.server.SIMULATORS``.
"""

from engine.sim.market import Batch, MarketSim, Scale, Trade
from engine.sim.matching import Account, ExecEvent, MatchingEngine, Order, Reject
from engine.sim.limits import RateLimiter, Rule
from engine.sim.faults import Faults

__all__ = [
    "Account",
    "Batch",
    "ExecEvent",
    "Faults",
    "MarketSim",
    "MatchingEngine",
    "Order",
    "RateLimiter",
    "Reject",
    "Rule",
    "Scale",
    "Trade",
]
