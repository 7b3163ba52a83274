# SPDX-License-Identifier: Apache-2.0
"""``venuelink normalize VENUE FILE --tier ccxt``: a recorded venue conversation through CCXT's
own message handlers, behind the tier's checks, printed like the native tier's replay.

The input is the native replay's (venuelink.tools.normalize): raw WebSocket frames as the venue sent
them, and REST answers as ``{"rest": "<path and query>", "body": ...}``. Here the worker of the
CCXT tier runs in process with CCXT's real exchange class, and nothing is connected to:

* every REST request CCXT makes (its markets load, a book snapshot) is answered from the REST
  lines, matched by path and query parameters; a request the recording cannot answer fails as
  an unreachable venue would, and is reported;
* CCXT's WebSocket client is never dialed: its subscribes go nowhere (they are counted), and
  each recorded frame goes to CCXT's own message handling as if received, through the tier's
  raw-frame checks (venuelink.ccxt_tier.taps);
* what the worker would hand to the engine goes to the engine's CCXT-tier parser and from there
  to the same output as the native replay (book snapshots, trades, tops with ``--book``).

The symbols to watch are given (``--symbol``): CCXT subscribes per symbol.
"""
from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import IO, Any, Iterable
from urllib.parse import parse_qsl, urlsplit

from venuelink.ccxt_tier.worker import Worker
from venuelink.tools.normalize import NormalizeStats, _as_rest, _Sink
from venuelink.ext.clock import now_ns

DEPTH = 20


class _Nowhere:
    """The connection of a WebSocket client that is never dialed: what is sent is counted."""

    closed = False

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_str(self, text: str) -> None:
        self.sent.append(text)

    async def close(self) -> None:
        """Never closed: the replay's one client takes every later frame (a closed live
        connection would be dialed again)."""


def _key(path_and_query: str) -> tuple[str, frozenset]:
    p = urlsplit(path_and_query)
    return p.path, frozenset(parse_qsl(p.query, keep_blank_values=True))


@dataclass
class Recording:
    """The REST answers of a recording, by path and query parameters."""
    answers: dict[tuple[str, frozenset], Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)    # requests the recording could not answer

    def add(self, path_and_query: str, body: Any) -> None:
        self.answers[_key(path_and_query)] = body

    def answer(self, url: str) -> Any:
        key = _key(url)
        if key in self.answers:
            return self.answers[key]
        # the same path with fewer parameters recorded (CCXT adds defaults such as a limit)
        for (path, params), body in self.answers.items():
            if path == key[0] and params <= key[1]:
                return body
        self.missing.append(url)
        return None


class ReplayWorker(Worker):
    """The CCXT worker, its REST answered by a recording and its WebSocket never dialed."""

    def __init__(self, exchange_id: str, symbols: list[str], recording: Recording, options: dict | None = None) -> None:
        super().__init__({"exchange": exchange_id, "symbols": list(symbols), "depth": DEPTH, "options": options or {}})
        self.recording = recording
        self.frames_out: list[str | bytes] = []                  # what the worker hands the engine
        self.connection = _Nowhere()
        self._client = None

    def make_exchange(self):
        from ccxt.base.errors import ExchangeNotAvailable
        ex = super().make_exchange()
        recording = self.recording

        async def fetch(url, method="GET", headers=None, body=None):
            u = urlsplit(url)
            answer = recording.answer(u.path + ("?" + u.query if u.query else ""))
            if answer is None:
                raise ExchangeNotAvailable(f"the recording has no answer to {method} {u.path}")
            return answer

        ex.fetch = fetch
        inner_client = ex.client

        def client(url):
            # one client for every URL: each recorded frame goes to the one that holds every
            # subscription, whichever stream CCXT meant it for
            if self._client is None:
                c = inner_client(url)

                async def open(session, backoff_delay=0):
                    c.connection = self.connection
                    c.connecting = False
                    c.isConnected = True
                    c.connected.resolve(url)

                c.open = open
                self._client = c
            return self._client

        ex.client = client
        return ex

    def send(self, topic: str, frame: str | bytes) -> None:
        self.frames_out.append(frame)

    def feed(self, text: str) -> None:
        """One recorded frame, as CCXT's client would have received it."""
        if self._client is None:
            raise RuntimeError("no WebSocket subscription yet")
        self._client.handle_text_or_binary_message(text)


async def _replay(exchange_id: str, venue: str, symbols: list[str], lines: Iterable[str | bytes], out: IO[str],
                  err: IO[str], with_book: bool, options: dict | None) -> NormalizeStats:
    from venuelink.ccxt_tier.adapter import CcxtAdapter
    from venuelink.config import VenueConfig

    stats = NormalizeStats()
    recording = Recording()
    frames: list[tuple[int, str]] = []
    for lineno, raw in enumerate(lines, 1):
        line = (raw.encode() if isinstance(raw, str) else raw).strip()
        stats.lines += 1
        if not line:
            continue
        rest = _as_rest(line)
        if rest is not None:
            stats.rest += 1
            recording.add(rest[0], json.loads(rest[1]))
        else:
            stats.frames += 1
            frames.append((lineno, line.decode(errors="replace")))

    w = ReplayWorker(exchange_id, symbols, recording, options)
    w.exchange = w.make_exchange()
    try:
        try:
            await w.load_markets(retry=False)
        except SystemExit as e:                         # a symbol the recording has no market for
            raise ValueError(str(e)) from None
        except Exception as e:
            raise ValueError(f"CCXT could not load the markets from the recording ({type(e).__name__}: {e}); "
                             f"record the instruments answers it asks for, or narrow them with "
                             f"--ccxt-options (e.g. '{{\"fetchMarkets\": {{\"types\": [\"spot\"]}}}}')") from None
        adapter = CcxtAdapter(VenueConfig(name=venue, tier="ccxt", symbols=list(symbols)))
        sink = _Sink(out, with_book, adapter.venue.name)
        parser = adapter.make_parser(sink)
        adapter.set_instruments(adapter.parse_instruments({"instruments": w.instruments}))
        for s in symbols:
            fs = adapter.feed_symbol(adapter.instrument(s), sink)
            fs.want_book = fs.want_deltas = fs.want_trades = fs.want_top = True
            parser.add_symbol(fs)
        for s in symbols:
            w.start_book_watch(s)
            w.spawn(w.watch_trades(s))
        for _ in range(20):                             # the watches subscribe (into nowhere)
            await asyncio.sleep(0)
        for lineno, text in frames:
            if sink.closed:
                break
            n_err, n_bad = len(sink.errors), parser.n_errors
            try:
                w.feed(text)
            except Exception as e:                      # CCXT's own handling raised: report, go on
                stats.bad_lines += 1
                err.write(f"line {lineno}: CCXT: {type(e).__name__}: {e}\n")
                continue
            for _ in range(5):                          # the watch loops take what CCXT resolved
                await asyncio.sleep(0)
            while w.backing_off:                        # a failed watch is made again before the
                await asyncio.sleep(0.01)               # next frame arrives, as time passes live
            for _ in range(5):
                await asyncio.sleep(0)
            handed, w.frames_out = w.frames_out, []
            for f in handed:
                parser.feed(f if isinstance(f, bytes) else f.encode(), now_ns())
            if len(sink.errors) > n_err or parser.n_errors > n_bad:
                stats.bad_lines += 1
                err.write(f"line {lineno}: {sink.errors[-1] if sink.errors else 'not readable'}\n")
        for url in recording.missing:
            err.write(f"REST {url}: no answer in the recording\n")
        for k in ("tap_failures", "handler_errors", "off_grid", "trades_lost", "book_watch_errors",
                  "trade_watch_errors"):
            if w.stats.get(k):
                err.write(f"worker: {k} = {w.stats[k]}\n")
        stats.events = sink.events
        return stats
    finally:
        tasks = list(w._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await w.exchange.close()
        except Exception:
            pass


def normalize_ccxt(venue: str, symbols: list[str], lines: Iterable[str | bytes], out: IO[str] = sys.stdout, *,
                   with_book: bool = False, err: IO[str] = sys.stderr, options: dict | None = None) -> NormalizeStats:
    """`options`: CCXT's own exchange options (as ``ccxt_options`` in a venue's config)."""
    from venuelink.ccxt_tier import ccxt_id
    if not symbols:
        raise ValueError("--tier ccxt needs the symbols to watch (--symbol BTC/USDT, again for more)")
    return asyncio.run(_replay(ccxt_id(venue), venue, list(symbols), lines, out, err, with_book, options))
