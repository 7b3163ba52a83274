# SPDX-License-Identifier: Apache-2.0
"""The CCXT tier: any exchange CCXT supports, behind the engine's own book states, checks and
metrics. Market data (books and trades) and order entry over CCXT's REST methods.

CCXT never runs on the engine's event loop. Each ccxt-tier venue gets a worker process
(``python -m venuelink.ccxt_tier.worker --spec JSON``; venuelink.ccxt_tier.supervisor starts it,
restarts it when it dies, and the worker exits with its parent). The worker runs ccxt.pro's
``watch_order_book`` / ``watch_trades`` for the configured symbols with CCXT's own throttler off
and serves what it gets on 127.0.0.1 in the small venuelink-internal dialect below. Every REST
request its CCXT client makes is first charged to the engine's rate budget: the worker asks the
engine's gate (``budget_url`` of its spec; venuelink.ccxt_tier.gate describes the asks). The engine
side is an ordinary adapter (venuelink.ccxt_tier.adapter.CcxtAdapter), so book sync, crossed-book
checks, trade dedupe, the data-silence watch and metrics are the engine's, unchanged.

Start
    The worker binds 127.0.0.1 (port 0 unless told otherwise), then prints one JSON line on
    stdout and nothing else afterwards:
    ``{"pid": 4242, "port": 41234, "rest_url": "http://127.0.0.1:41234", "ws_url": "ws://127.0.0.1:41234/ws",
    "private_stream": false}``.
    It reports only once the exchange's markets are loaded.

HTTP (``rest_url``)
    ``GET /instruments``: ``{"exchange": "binance", "instruments": [{"symbol": "BTC/USDT",
    "type": "spot", "base", "quote", "settle", "tick": "0.01", "lot": "0.00001",
    "min_qty": "0.00001" or "", "contract_size": "" or "0.01", "active": true}, ...]}``
    (markets whose tick or lot cannot be known exactly are left out and counted).
    ``GET /book?symbol=BTC/USDT``: the latest valid book frame of a symbol (404 while none).
    ``GET /stats``: the worker's counters (frames sent, off-grid values, watch errors ...).

Orders (``POST /orders``, served when the worker got credentials: one JSON line
``{"apiKey", "secret", "password"}`` on its stdin at start, ``"credentials": "stdin"`` in its
spec; never on its command line). One JSON request, one answer, always HTTP 200:
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {"chain": ["OrderNotFound",
"InvalidOrder", "ExchangeError", "BaseError"], "msg": "...", "http_status": 400,
"retry_after_s": 0}}`` (``chain``: the CCXT exception's class names, most specific first; the
engine maps them through venuelink.ccxt_tier.errors.TABLE). Requests, by ``op``:

    Every request may carry ``budget_token``: the engine's token its REST requests name when the
    worker asks the budget (their priority and deadline). A request whose REST request the budget
    refused was not sent: chain ``["LocalBudgetRefused"]``.

    * ``create``: ``symbol``, ``side`` ("buy" | "sell"), ``type`` ("limit" | "market"),
      ``amount`` and ``price`` (exact decimal strings; a value CCXT would change is refused,
      chain ``["NotExact"]``), ``client_id`` (sent as the exchange's own client-id parameter,
      Binance ``newClientOrderId``, OKX ``clOrdId``), ``tif`` ("GTC" | "IOC" | "FOK" | "POST_ONLY"),
      ``reduce_only``; result: an order with its ``fills``. A venue whose answer to a write only
      acknowledges it (OKX: ``sCode`` "0", no state) has the order read back once, and for a
      create that filled, its fills; if that read fails the answer's ``state`` is UNKNOWN with a
      ``reason``, and the engine reconciles by client id;
    * ``cancel`` / ``fetch``: ``symbol``, ``client_id`` (the venue looks the order up by it),
      ``id`` (the venue's, optional); result: an order;
    * ``open``: ``symbol`` (null: all); result: a list of orders;
    * ``trades``: ``symbol``, ``since_ms``; result: a list of own trades.

    An order: ``{"id", "client_id", "symbol", "side", "status" (the venue's own word), "state"
    (NEW | PARTIALLY_FILLED | FILLED | CANCELED | REJECTED | EXPIRED | PENDING_NEW |
    CANCEL_PENDING | UNKNOWN), "filled", "amount", "price", "ts"}``; a fill ``{"id", "price",
    "qty", "fee", "fee_asset"}``; an own trade ``{"id", "order_id", "symbol", "side", "price",
    "qty", "fee", "fee_asset", "maker", "ts"}``. Values are decimal strings read from the
    venue's raw ``info`` where venuelink.ccxt_tier.entry.RAW knows its field names (Binance, OKX), else
    from CCXT's unified fields. CCXT's own timeout (``timeout_ms`` of the spec) is every call's
    deadline.

WebSocket (``ws_url``), JSON text frames
    engine -> worker: ``{"op": "subscribe" | "unsubscribe", "id": 7, "topics": ["book:BTC/USDT",
    "trades:BTC/USDT", "top:BTC/USDT"]}``; answered ``{"op": "subscribed" | "unsubscribed",
    "id": 7}`` or ``{"op": "error", "id": 7, "msg": "..."}``. A book subscription is followed
    by the latest valid book at once (the in-band snapshot).
    worker -> engine:

    * a book: a full top-N snapshot, best first, every value exact on the instrument's grid, as a
      binary frame (venuelink.ccxt_tier.wire: integer mantissas at the instrument's scales, read
      by the engine without JSON or a decimal conversion per value: 10 us instead of 25 for 20
      levels a side); the in-band snapshot answering a subscribe is the same book as JSON text,
      ``{"type": "book", "symbol": "BTC/USDT", "ts": 1700000000123, "bids": [["60000.01",
      "0.5"], ...], "asks": [...]}``, every value a decimal string; ``ts`` the exchange's time in
      ms (0: unknown);
    * ``{"type": "trade", "symbol": "BTC/USDT", "id": "75000008", "side": "buy", "price":
      "60000.01", "size": "0.0928", "ts": 1700000000123}``: ``side`` is the taker's;
    * ``{"type": "invalid", "symbol": "BTC/USDT", "reason": "...", "off_grid": 2}``: the
      worker's book of that symbol cannot be trusted (values off the grid, how many; or the
      exchange's stream failed, 0) until its next book frame.

    The private stream (topic ``orders``, offered when the worker has credentials and CCXT
    watches the exchange's orders; the start line then says ``"private_stream": true``): after
    the subscribe, ``{"type": "stream", "up": true | false, "reason": "..."}`` says where it
    stands, and again on every change (up: CCXT's ``watch_orders`` and ``watch_my_trades`` have
    waited a second without an error since their last one); ``{"type": "order", ...an order
    as in the answers above}`` for each order update and ``{"type": "fill", ...an own trade as in
    the answers above}`` for each own trade, read from the stream's raw fields where
    venuelink.ccxt_tier.entry.RAW knows them (Binance executionReport, OKX orders channel).

Values: CCXT hands prices and sizes as floats. Each one is read as the decimal its repr()
prints and must lie on the instrument's tick (prices) or lot (sizes) grid; a value off the grid
is counted and its book marked invalid, never rounded.
"""
from __future__ import annotations

#: config names that are another CCXT id
CCXT_IDS = {"gateio": "gate"}
#: venue ids CCXT no longer ships: refused with the reason
#: venues the tier cannot serve, and why (tests/engine/test_venues_cmd.py checks these against CCXT)
GONE = {"bitmex": "CCXT no longer ships a BitMEX client"}


def ccxt_id(venue_name: str) -> str:
    return CCXT_IDS.get(venue_name, venue_name)
