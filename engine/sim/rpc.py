"""Request/response over a WebSocket (order entry, private-stream login, queries).

A client frame names a method and carries a request id; the server answers each frame with one
reply carrying the same id.  Every request costs weight from the same per-IP limiter as REST,
so a client that floods the socket meets the venue's 429/418 answers there too.

The dialect supplies ``RpcDialect``: how a frame reads (``parse``), what a method weighs, the
method table, and how results and errors are rendered.  ``RpcSocket`` runs the loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Protocol

from venuelink.sim.app import SimError
from venuelink.sim.limits import Decision, RateLimiter
from venuelink.sim.wsconn import ControlReply, WsConn

# (connection, params) -> result; raise SimError for an error answer
Method = Callable[[WsConn, Any], Awaitable[Any]]


@dataclass(slots=True)
class RpcRequest:
    rid: Any
    method: str
    params: Any


class RpcDialect(Protocol):
    methods: Mapping[str, Method]

    def parse(self, text: str) -> RpcRequest:
        """Read a frame; raise ``ControlReply`` for an unreadable one."""

    def weight(self, req: RpcRequest) -> int: ...

    def limit_error(self, dec: Decision) -> SimError: ...

    def unknown_method(self, req: RpcRequest) -> SimError: ...

    def result(self, req: RpcRequest, result: Any, dec: Decision) -> str: ...

    def error(self, req: RpcRequest, err: SimError, dec: Decision) -> str: ...


class RpcSocket:
    """Requests are read in arrival order and each method starts (limits counted, order executed)
    in that order, but a method that awaits (an answer held back by an ``order`` fault) does not
    hold up the frames behind it: as at a venue, one slow answer does not make every later
    request on the connection arrive late -- which would also bunch them into a later rate
    window than the one the client spent them in."""

    def __init__(self, limiter: RateLimiter, dialect: RpcDialect) -> None:
        self.limiter = limiter
        self.dialect = dialect
        self.malformed = 0  # frames the dialect could not read
        self._pending: set[asyncio.Task] = set()

    async def on_text(self, conn: WsConn, text: str) -> None:
        d = self.dialect
        try:
            req = d.parse(text)
        except ControlReply as e:
            self.malformed += 1
            if e.reply is not None:
                conn.send(e.reply)
            return
        dec = self.limiter.check_request(conn.remote, d.weight(req))
        faults = getattr(conn, "faults", None)
        if dec.allowed and faults is not None and faults.rate_limits:
            retry = faults.take_rate_limit(f"ws:{req.method}", named_only=True)
            if retry is not None:
                dec = Decision(False, 429, retry)
        try:
            if not dec.allowed:
                raise d.limit_error(dec)
            fn = d.methods.get(req.method)
            if fn is None:
                raise d.unknown_method(req)
        except SimError as e:
            conn.send(d.error(req, e, dec))
            return
        # each method runs in its own task: tasks start in creation (arrival) order, and one that
        # awaits does not stall the reader
        t = asyncio.get_running_loop().create_task(self._run(conn, req, dec, fn))
        self._pending.add(t)
        t.add_done_callback(self._pending.discard)

    async def _run(self, conn: WsConn, req: RpcRequest, dec: Decision, fn: Method) -> None:
        d = self.dialect
        try:
            reply = d.result(req, await fn(conn, req.params), dec)
        except SimError as e:
            reply = d.error(req, e, dec)
        conn.send(reply)
