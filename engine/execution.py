# SPDX-License-Identifier: Apache-2.0
"""``ExecutionClient``: what a venue's order entry implements for the order manager
(venuelink.orders), async and venue-agnostic."""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from venuelink.model import Fill, Order, OrderUpdate, VenueId


@runtime_checkable
class ExecutionClient(Protocol):
    """What every venue adapter implements for order entry (async, venue-agnostic).

    A ``typing.Protocol`` (runtime-checkable) rather than an ABC: the order manager only needs the
    shape, so test doubles and adapters need no common base class, while an adapter that
    subclasses it explicitly (``class BinanceExecution(ExecutionClient)``) states the contract
    and gets it checked by mypy.

    Lifecycle, as the runtime drives it:

    1. the runtime sets ``on_update`` (the order manager's ``on_venue_update``);
    2. ``await sync_time()`` measures the venue clock offset used for signed timestamps (also
       called again by the adapter when the venue refuses a timestamp);
    3. ``start(private_ws_url, on_reconnected)`` starts the private stream in the background
       (pushed order/fill updates reach ``on_update``); ``on_reconnected()`` is called after each
       *re*connect, once logged in and subscribed again, so the runtime can reconcile the orders
       whose updates were missed while the stream was down. ``stream_connected`` tells whether
       the stream is currently up. An adapter may also offer ``reconnect_now() -> bool``: the
       runtime calls it when the venue's REST answers again while the stream is still waiting out
       a reconnect backoff, so the stream returns with the venue, not a backoff later;
    4. ``await close()`` stops the stream; requests still waiting end in ``ExecutionUnknown``.

    Optional: ``async amend(order, qty, price) -> OrderUpdate`` where the venue changes a resting
    order in place (same ids): ``qty`` the new total quantity (fills included) and/or ``price``
    the new limit price, as decimal strings, ``None`` for "unchanged". The answer carries the
    terms the venue now has (``qty``/``price``, empty for "as requested") and its exchange time.
    Errors as for ``cancel``: ``UnknownOrder`` when the venue has no such open order,
    ``Rejected`` (and the other not-executed refusals) for a refused amend, ``ExecutionUnknown``
    when unsure. A venue without amend simply lacks the method.

    Optional: ``async arm_dead_man(timeout_s: int)`` for a venue-side dead man's switch (the venue
    cancels every open order unless re-armed within ``timeout_s``; 0 disarms; ``ValueError`` for
    a timeout the venue does not accept), driven by ``venuelink.deadman`` when
    ``VenueConfig.dead_man_s`` is set.

    Optional: ``async cancel_all(symbol, orders) -> list[OrderUpdate]`` cancels the open orders of
    one symbol over REST in as few requests as the venue allows (its cancel-all where it has one,
    which also takes orders this manager does not know; else per-order batches of ``orders``),
    returning what the venue reported about them (possibly nothing: the open-orders listing
    afterwards is the check); a symbol without open orders is no error. And
    ``cancels_on_stream = True`` for a client whose ``cancel`` uses the private stream while it is
    up. ``OrderManager.cancel_open`` (shutdown) uses both.

    Error contract:

    * ``place``: ``Rejected`` for a definitive refusal; ``RateLimited``/``IpBanned``/
      ``CircuitOpen``/``AuthError``/``TimestampError`` when the request was not sent or was refused
      before execution; ``ExecutionUnknown`` (timeout, 5xx, network error after sending, venue
      "status unknown") when the order may or may not exist.
    * ``cancel``: ``UnknownOrder`` when the venue definitively has no such open order (e.g. it was
      already filled or canceled); ``ExecutionUnknown`` when unsure.
    * ``query``: ``UnknownOrder`` ONLY when the venue definitively says the order does not exist;
      timeouts and network errors are ``ExecutionUnknown`` and never mean "not found".

    A place refused as a *duplicate client order id* proves an order with that id exists: the
    manager never reuses the id of a live order, so adapters report that case as
    ``ExecutionUnknown`` (reconciliation then finds the order), not as ``Rejected``.
    """

    venue: VenueId
    on_update: Callable[[OrderUpdate], None] | None
    """Receives every pushed order update (with its fill, if any); set before ``start``."""
    # position_legs: bool (optional, False when absent): orders may name a hedge-mode leg
    # (OrderRequest.position_side); without it the manager refuses such an order unsent

    # ---- lifecycle
    def start(self, private_ws_url: str, on_reconnected: Callable[[], None]) -> None:
        """Start the private stream (background task; returns at once)."""
        ...

    @property
    def stream_connected(self) -> bool:
        """The private stream is logged in and receiving updates."""
        ...

    async def sync_time(self) -> None:
        """Measure the offset between the venue's clock and ours."""
        ...

    async def close(self) -> None:
        """Stop the private stream and any background work; idempotent."""
        ...

    # ---- orders
    def new_client_order_id(self) -> str:
        """A fresh client order id that is legal on this venue."""
        ...

    async def place(self, order: Order) -> OrderUpdate:
        ...

    async def cancel(self, order: Order) -> OrderUpdate:
        ...

    async def query(self, order: Order) -> OrderUpdate:
        ...

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        ...

    async def recent_fills(self, symbol: str, since_ns: int) -> list[Fill]:
        """Own trades of ``symbol`` with ``ts_exchange >= since_ns`` (epoch ns)."""
        ...
