"""Runtime fault switches shared by every venue simulator.

``Faults`` only holds state; the venue and its dialect consult it at the right points
(publishing a depth diff, writing a WS frame, answering an order request, ...).  One-shot
*actions* (drop every connection, send a shutdown notice) are carried out by ``SimVenue``.

Admin JSON (``POST /__sim/fault``, a single object or a list of them):

==================  ===============================================================  =========
type                fields                                                           effect
==================  ===============================================================  =========
gap                 symbol, count=1, channel=null                                    drop the next ``count`` market-data diffs for the symbol
                                                                                     (on ``channel`` only if given) -> sequence gap
delay               ms (0 clears)                                                    delay every outgoing WS frame by ``ms``
disconnect          close_frame=true, scope="all"|"market"|"user"                    close WS connections (with a close frame, or abort TCP)
order               mode="unknown"|"timeout", count=1, hold_s=30, status=null        next order requests are executed, but answered with the
                                                                                     venue's "execution status unknown" error (after ``hold_s``
                                                                                     for ``timeout``)
drop_user_event     count=1                                                          the user-data events produced while placing the next
                                                                                     ``count`` orders are not sent
http_error          status=503, count=1, path=null                                   answer the next ``count`` REST requests (path prefix) with 5xx,
                                                                                     without executing them
pings               enabled=true|false                                               server ping frames on/off
silence             enabled=true|false                                               WS goes mute: no data, no pongs (a hung peer)
server_shutdown     -                                                                venue's shutdown notice on market-data connections
clear               -                                                                reset everything
==================  ===============================================================  =========
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any


class FaultError(ValueError):
    pass


@dataclass(slots=True)
class OrderFault:
    mode: str  # "unknown" | "timeout"
    hold_s: float
    status: int | None


@dataclass(slots=True)
class HttpFault:
    status: int
    count: int
    path: str | None


ACTIONS = ("disconnect", "server_shutdown")


class Faults:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.md_drops: dict[tuple[str, str | None], int] = {}
        self.ws_delay_ms: float = 0.0
        self.pings_enabled: bool = True
        self.silent: bool = False
        self.order_faults: deque[OrderFault] = deque()
        self.user_event_drops: int = 0
        self.http_faults: list[HttpFault] = []

    # ------------------------------------------------------------------ consult
    def take_md_drop(self, symbol: str, channel: str | None = None) -> bool:
        for key in ((symbol, channel), (symbol, None)) if channel is not None else ((symbol, None),):
            n = self.md_drops.get(key, 0)
            if n > 0:
                if n == 1:
                    del self.md_drops[key]
                else:
                    self.md_drops[key] = n - 1
                return True
        return False

    def take_order_fault(self) -> OrderFault | None:
        return self.order_faults.popleft() if self.order_faults else None

    def take_user_drop(self) -> bool:
        if self.user_event_drops > 0:
            self.user_event_drops -= 1
            return True
        return False

    def take_http_error(self, path: str) -> int | None:
        for f in self.http_faults:
            if f.path is None or path.startswith(f.path):
                f.count -= 1
                if f.count <= 0:
                    self.http_faults.remove(f)
                return f.status
        return None

    # ------------------------------------------------------------------ configure
    def apply(self, spec: dict[str, Any]) -> str:
        """Apply one fault spec; returns its type. Action types are only validated here."""
        if not isinstance(spec, dict):
            raise FaultError("fault spec must be an object")
        kind = spec.get("type")
        try:
            if kind == "gap":
                sym = spec["symbol"]
                if not isinstance(sym, str):
                    raise FaultError("symbol must be a string")
                key = (sym, spec.get("channel"))
                self.md_drops[key] = self.md_drops.get(key, 0) + _pos_int(spec.get("count", 1))
            elif kind == "delay":
                ms = float(spec.get("ms", 0))
                if ms < 0:
                    raise FaultError("ms must be >= 0")
                self.ws_delay_ms = ms
            elif kind == "order":
                mode = spec.get("mode", "unknown")
                if mode not in ("unknown", "timeout"):
                    raise FaultError("mode must be 'unknown' or 'timeout'")
                status = spec.get("status")
                for _ in range(_pos_int(spec.get("count", 1))):
                    self.order_faults.append(
                        OrderFault(mode, float(spec.get("hold_s", 30.0)), int(status) if status is not None else None)
                    )
            elif kind == "drop_user_event":
                self.user_event_drops += _pos_int(spec.get("count", 1))
            elif kind == "http_error":
                status = int(spec.get("status", 503))
                if not 500 <= status <= 599:
                    raise FaultError("status must be 5xx")
                self.http_faults.append(HttpFault(status, _pos_int(spec.get("count", 1)), spec.get("path")))
            elif kind == "pings":
                self.pings_enabled = bool(spec.get("enabled", True))
            elif kind == "silence":
                self.silent = bool(spec.get("enabled", True))
            elif kind == "clear":
                self.reset()
            elif kind == "disconnect":
                if spec.get("scope", "all") not in ("all", "market", "user"):
                    raise FaultError("scope must be all, market or user")
            elif kind == "server_shutdown":
                pass
            else:
                raise FaultError(f"unknown fault type {kind!r}")
        except (KeyError, TypeError) as e:
            raise FaultError(f"bad fault spec: {e}") from None
        except ValueError as e:
            if isinstance(e, FaultError):
                raise
            raise FaultError(f"bad fault spec: {e}") from None
        return kind

    def state(self) -> dict[str, Any]:
        return {
            "md_drops": [
                {"symbol": s, "channel": c, "count": n} for (s, c), n in sorted(self.md_drops.items(), key=str)
            ],
            "ws_delay_ms": self.ws_delay_ms,
            "pings_enabled": self.pings_enabled,
            "silent": self.silent,
            "order_faults": [{"mode": f.mode, "hold_s": f.hold_s, "status": f.status} for f in self.order_faults],
            "user_event_drops": self.user_event_drops,
            "http_faults": [{"status": f.status, "count": f.count, "path": f.path} for f in self.http_faults],
        }


def _pos_int(v: Any) -> int:
    n = int(v)
    if n <= 0:
        raise FaultError("count must be > 0")
    return n
