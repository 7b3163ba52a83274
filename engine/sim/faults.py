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
silence             enabled=true|false                                               WS goes mute: no data, no pongs (a hung peer,
                                                                                     half-open TCP)
server_shutdown     -                                                                venue's shutdown notice on market-data connections
                                                                                     (and private ones where the venue sends it there;
                                                                                     the dialect closes them after the venue's delay)
cut                 scope="market"                                                   disconnect mid-frame: half of a frame's bytes
                                                                                     written, then the TCP connection aborted
mute                topics=[...], enabled=true                                       stop publishing these topics; the connection
                                                                                     stays up and answers pings (a stale feed);
                                                                                     "*" mutes every market-data topic
duplicate           count=1, topic=null                                              the next ``count`` data frames are sent twice
reorder             count=1, topic=null                                              the next ``count`` data frames are held and sent
                                                                                     after the frame that follows each
malformed           count=1, topic=null                                              the next ``count`` data frames are cut short (bad JSON)
unknown_fields      count=1, topic=null                                              the next ``count`` data frames carry extra fields
type_change         count=1, topic=null                                              the next ``count`` data frames have their first
                                                                                     decimal string sent as a JSON number and their
                                                                                     first integer field as a string
crossed             symbol                                                           the symbol's next book diff carries a level that
                                                                                     crosses the book (the venue's own book stays right)
checksum            symbol, count=1                                                  the symbol's next ``count`` checksums are wrong
                                                                                     (venues that publish one)
maintenance         enabled=true|false                                               the venue's maintenance: REST answers its
                                                                                     maintenance error, WS upgrades are refused and
                                                                                     live connections closed after its notice
maintenance_notice  in_s=60, for_s=60                                                the venue's status endpoint announces maintenance from
                                                                                     ``in_s`` seconds on, for ``for_s`` (negative ``in_s``: it
                                                                                     began already); nothing else changes
rate_limit          count=1, retry_after_s=1, path=null                              the next ``count`` REST requests get the venue's
                                                                                     429 with its retry hint; path="ws:" (or
                                                                                     "ws:<method>"): WebSocket API requests (order
                                                                                     entry) get the venue's rate refusal instead
ban                 seconds=2                                                        every REST request gets the venue's IP-ban answer
                                                                                     (418 and its retry hint) for ``seconds``
duplicate_user_event count=1                                                         the next ``count`` user-stream events are sent twice
flood               steps=1000                                                       run ``steps`` market steps at once (a burst a
                                                                                     slow consumer must survive)
clear               -                                                                reset everything
==================  ===============================================================  =========

``order`` also takes ``mode="late"``: executed and answered normally, but only after ``hold_s``
(the stream's events, fills included, arrive before the ack).
"""

from __future__ import annotations

import re
import time
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


ACTIONS = ("disconnect", "server_shutdown", "cut", "flood")

# frame mutations applied to published data frames, in this order of precedence
FRAME_FAULTS = ("duplicate", "reorder", "malformed", "unknown_fields", "type_change")


@dataclass(slots=True)
class FrameFault:
    kind: str
    count: int
    topic: str | None


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
        self.frame_faults: list[FrameFault] = []
        self.muted: set[str] = set()
        self.crossed: set[str] = set()
        self.checksum_bad: dict[str, int] = {}
        self.maintenance: bool = False
        self.maintenance_window: tuple[float, float] | None = None  # announced (begin, end), epoch s
        self.rate_limits: list[HttpFault] = []  # status holds retry_after_s
        self.banned_until: float = 0.0
        self.user_event_dups: int = 0

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

    def take_frame_fault(self, topic: str) -> str | None:
        """The mutation for the next data frame of ``topic``, if one is pending."""
        for f in self.frame_faults:
            if f.topic is None or f.topic == topic:
                f.count -= 1
                if f.count <= 0:
                    self.frame_faults.remove(f)
                return f.kind
        return None

    def take_crossed(self, symbol: str) -> bool:
        if symbol in self.crossed:
            self.crossed.discard(symbol)
            return True
        return False

    def take_checksum_bad(self, symbol: str) -> bool:
        n = self.checksum_bad.get(symbol, 0)
        if n <= 0:
            return False
        if n == 1:
            del self.checksum_bad[symbol]
        else:
            self.checksum_bad[symbol] = n - 1
        return True

    def take_rate_limit(self, path: str, *, named_only: bool = False) -> int | None:
        """Retry-after seconds of a pending ``rate_limit`` fault matching ``path``. `named_only`: a
        fault without a path does not match (WebSocket requests, ``ws:<method>``, are hit only by
        faults that name them)."""
        for f in self.rate_limits:
            if (f.path is None and not named_only) or (f.path is not None and path.startswith(f.path)):
                f.count -= 1
                if f.count <= 0:
                    self.rate_limits.remove(f)
                return f.status
        return None

    def ban_left(self) -> float:
        """Seconds left of a ``ban`` fault (0 when none)."""
        return max(0.0, self.banned_until - time.time())

    def take_user_dup(self) -> bool:
        if self.user_event_dups > 0:
            self.user_event_dups -= 1
            return True
        return False

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
                if mode not in ("unknown", "timeout", "late"):
                    raise FaultError("mode must be 'unknown', 'timeout' or 'late'")
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
            elif kind in FRAME_FAULTS:
                topic = spec.get("topic")
                if topic is not None and not isinstance(topic, str):
                    raise FaultError("topic must be a string")
                self.frame_faults.append(FrameFault(kind, _pos_int(spec.get("count", 1)), topic))
            elif kind == "mute":
                topics = spec["topics"]
                if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
                    raise FaultError("topics must be a list of strings")
                if spec.get("enabled", True):
                    self.muted.update(topics)
                else:
                    self.muted.difference_update(topics)
            elif kind == "crossed":
                sym = spec["symbol"]
                if not isinstance(sym, str):
                    raise FaultError("symbol must be a string")
                self.crossed.add(sym)
            elif kind == "checksum":
                sym = spec["symbol"]
                if not isinstance(sym, str):
                    raise FaultError("symbol must be a string")
                self.checksum_bad[sym] = self.checksum_bad.get(sym, 0) + _pos_int(spec.get("count", 1))
            elif kind == "maintenance":
                self.maintenance = bool(spec.get("enabled", True))
            elif kind == "maintenance_notice":
                start, dur = float(spec.get("in_s", 60)), float(spec.get("for_s", 60))
                if not (-86400 <= start <= 86400 and 0 < dur <= 86400):
                    raise FaultError("in_s must be within a day and for_s in (0, 86400]")
                now = time.time()
                self.maintenance_window = (now + start, now + start + dur)
            elif kind == "rate_limit":
                retry = int(spec.get("retry_after_s", 1))
                if not 0 < retry <= 3600:
                    raise FaultError("retry_after_s must be in 1..3600")
                self.rate_limits.append(HttpFault(retry, _pos_int(spec.get("count", 1)), spec.get("path")))
            elif kind == "ban":
                secs = float(spec.get("seconds", 2))
                if not 0 < secs <= 3600:
                    raise FaultError("seconds must be in (0, 3600]")
                self.banned_until = time.time() + secs
            elif kind == "duplicate_user_event":
                self.user_event_dups += _pos_int(spec.get("count", 1))
            elif kind == "cut":
                if spec.get("scope", "market") not in ("all", "market", "user"):
                    raise FaultError("scope must be all, market or user")
            elif kind == "flood":
                steps = int(spec.get("steps", 1000))
                if not 0 < steps <= 100_000:
                    raise FaultError("steps must be in 1..100000")
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
            "frame_faults": [{"type": f.kind, "count": f.count, "topic": f.topic} for f in self.frame_faults],
            "muted": sorted(self.muted),
            "crossed": sorted(self.crossed),
            "checksum": dict(sorted(self.checksum_bad.items())),
            "maintenance": self.maintenance,
            "maintenance_window": list(self.maintenance_window) if self.maintenance_window else None,
            "rate_limits": [{"retry_after_s": f.status, "count": f.count, "path": f.path} for f in self.rate_limits],
            "ban_left_s": round(self.ban_left(), 3),
            "user_event_dups": self.user_event_dups,
        }


def _pos_int(v: Any) -> int:
    n = int(v)
    if n <= 0:
        raise FaultError("count must be > 0")
    return n


_DECIMAL_STRING = re.compile(r'"(-?[0-9]+\.[0-9]+)"')
_INT_FIELD = re.compile(r'("[A-Za-z_]+":)(-?[0-9]+)([,}])')


def mutate_frame(kind: str, text: str) -> str:
    """One data frame as the ``malformed`` / ``unknown_fields`` / ``type_change`` faults send it."""
    if kind == "malformed":
        return text[: max(1, len(text) // 2)]
    if kind == "unknown_fields":
        if text.startswith("{") and len(text) > 2:
            return '{"zz_added":{"n":[1,"2",null,true],"s":"x"},' + text[1:]
        return text
    if kind == "type_change":               # schema drift: a decimal string as a number, an integer as a string
        return _INT_FIELD.sub(r'\1"\2"\3', _DECIMAL_STRING.sub(r"\1", text, count=1), count=1)
    raise FaultError(f"not a frame mutation: {kind!r}")
