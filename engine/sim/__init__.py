"""Venue simulators: venue-neutral machinery shared by every simulated exchange.

Layout
------
``market``    random-walk L2 book generator (integer ticks / lots), change batches, trades
``matching``  per-symbol matching engine + accounts/balances over a ``MarketSim`` book
``positions`` perpetual swaps on it, linear (settled in the quote) and inverse (settled in the base
              coin): net positions, cross margin at a leverage, PnL and fees in the settle
              currency, reduce-only (``SymbolSpec.contract_value`` selects it, ``inverse`` the kind)
``limits``    server-side rate limits (fixed windows, 429 -> 418 escalation), built from the
              engine's ``BucketSpec``s at the venue's real limits
``faults``    runtime fault switches (sequence gaps, delays, disconnects, lost acks, 5xx ...)
``wsconn``    WebSocket connection (send queue, pings, inbound cap, max age), the topic hub and
              its fan-out, and ``TopicControl``: client subscribe / unsubscribe / list frames,
              per-connection topic cap and subscribe budget, application-level ping
``streams``   time-aggregated diff streams (``DiffStreams``), top-of-book changes, account-event
              subscriptions (``AccountStreams``)
``rpc``       request/response over a WebSocket, weighed by the same IP limiter as REST
``core``      ``SimVenue``: markets + engines + accounts + market loop + order filters + fault actions
``app``       ``SimApp``: aiohttp app skeleton, REST middleware (faults, limits, errors, usage
              headers), parameter helpers, order fault; ``SimConfig`` and its CLI options
``admin``     ``/__sim/`` admin HTTP API (venue-neutral book dump, account state, faults, market control)
``dialect``   ``SimDialect``: a simulator module's venue, config, app, own options and report
              extras, from which its command line, configs, report and entry point are derived
``server``    process harness: ``running_simulator("binance", ...)`` / in-process variant

A venue's simulator module (e.g. ``venuelink.adapters.binance.simulator``) holds only its dialect: wire
format, signing check, error bodies, stream names and which bucket counts what.

Writing a dialect for another venue
-----------------------------------
1. Data: ``SymbolSpec``s (tick, lot, mid, filters) and ``BUCKET_SCOPES``, a map from each bucket
   name of the venue's ``SPEC.buckets`` to what it counts (``WEIGHT`` / ``RAW`` per IP,
   ``ORDERS`` per account, ``KEYED`` counted by ``limiter.check_bucket(key, names)`` under a key
   the dialect picks, e.g. account + instrument).  Limits are never restated: ``rules_from_buckets(SPEC.buckets,
   BUCKET_SCOPES, config.limits)`` enforces the real ones (``--limit NAME=N`` overrides in tests).
2. Config: ``@dataclass class XSimConfig(SimConfig)`` with the venue's defaults (symbols,
   balances, ``max_topics``, ``sub_ops``/``sub_window_s``, ping period from the spec) and its own
   fields; ``LIMIT_OPTIONS`` adds per-bucket shortcut flags.  The command line is derived from
   it (``add_common_args`` + ``add_sim_args``); the dialect adds only its own flags (step 7).
3. ``class XSim(SimApp)``: ``venue = make_venue(name, specs, config, rules, accounts)`` and
   ``super().__init__(config, venue)``; set ``venue.on_batch`` (render trades / tickers
   from a ``Batch``), ``venue.on_account_event`` (``ExecEvent`` / ``BalanceEvent`` ->
   ``AccountStreams.publish``) and optionally ``venue.on_shutdown_notice`` (``hub.broadcast``).
4. REST: override ``add_routes``, ``is_api_path``, ``request_weight``, ``usage_headers``,
   ``authenticate`` (the venue's key + signature check), ``error_body`` and the error factories
   (``limit_error``, ``internal_error``, ``unknown_status_error``, ``missing_param``,
   ``bad_param``, ``unknown_symbol``); raise ``SimError`` subclasses from handlers; route private
   operations with ``self.private(op)``; use ``param_symbol/param_int/param_decimal``,
   ``venue.order_units`` (filters), ``venue.place`` (honours ``drop_user_event``) and ``await
   self.order_fault()`` after executing an order.
5. Market data: implement the ``ControlDialect`` methods (``parse`` a client frame into a
   ``Control(op, topics, rid)`` or raise ``ControlReply``; ``valid_topic``; ``ack``; ``refuse``
   for each ``Refusal``; ``other`` for dialect-only ops) and serve sockets with
   ``conn = self.ws_conn(request, "market")`` and
   ``conn.serve(self.topic_control(self, ping=PingRule(...)).on_text)``.  Publish with
   ``hub.publish(topic, payload)``; set ``conn.wrap`` for per-connection envelopes.  Diff streams:
   ``self.diffs = DiffStreams(venue, classify, render)``, ``self.diff_cadences_ms = {...}``,
   ``hub.on_topic = self.diffs.on_topic`` and ``diffs.on_batch`` from ``on_batch``.
6. Request/response over WS (order entry, private-stream login): an ``RpcDialect`` (``parse``,
   ``weight``, ``methods`` table, ``result`` / ``error`` rendering) run by
   ``RpcSocket(limiter, dialect).on_text``; ``AccountStreams`` keeps who receives which
   account's events.
7. Module level: ``SIM = SimDialect(venue=VENUE, title="X simulator", config=XSimConfig,
   app=XSim, extra_args=<adds the venue's own flags>, report_extra=<the start-up report's keys
   beyond base_report>)`` and ``if __name__ == "__main__": SIM.main()``; the parser, configs,
   report, application and entry point come from it (``venuelink.sim.dialect``).  The venue's
   manifest names the module (``SIMULATOR``).
"""

from venuelink.sim.market import Batch, MarketSim, Scale, Trade
from venuelink.sim.matching import Account, ExecEvent, MatchingEngine, Order, Reject
from venuelink.sim.positions import (InversePerpEngine, InversePosition, LinearPerpEngine, PerpEngine, PerpPosition,
                                  Position)
from venuelink.sim.limits import RateLimiter, Rule
from venuelink.sim.faults import Faults

__all__ = [
    "Account",
    "Batch",
    "ExecEvent",
    "Faults",
    "InversePerpEngine",
    "InversePosition",
    "LinearPerpEngine",
    "MarketSim",
    "MatchingEngine",
    "Order",
    "PerpEngine",
    "PerpPosition",
    "Position",
    "RateLimiter",
    "Reject",
    "Rule",
    "Scale",
    "Trade",
]
