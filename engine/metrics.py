# SPDX-License-Identifier: Apache-2.0
"""Prometheus metrics, collected at scrape time from the live objects.

Nothing here runs per message: the hot path only does venuelink.ext.histogram record_ns (a few ns) and
integer counter increments in C; this collector turns them into standard Prometheus families
when /metrics is scraped. Latency histograms are in seconds with fixed buckets, so per-venue
p50/p95/p99 come out of histogram_quantile(0.99, rate(venuelink_stage_latency_seconds_bucket[1m])).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from venuelink.ext.histogram import Histogram


class MetricsSource(Protocol):
    """What the collector reads: the engine's venue runtimes and its stream drops."""
    runtimes: Mapping[Any, Any]
    stream_drops: int


# bucket upper bounds in ns: 250 ns .. 10 s
BOUNDS_NS = [250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
             1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000,
             250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 10_000_000_000]


def histogram_family(fam: HistogramMetricFamily, labels: list[str], h: Histogram) -> None:
    cum = h.cumulative_at(BOUNDS_NS)
    buckets = [(f"{b / 1e9:.9g}", c) for b, c in zip(BOUNDS_NS, cum)] + [("+Inf", h.count)]
    fam.add_metric(labels, buckets, h.sum / 1e9)


class EngineCollector(Collector):
    def __init__(self, engine: MetricsSource) -> None:
        self.engine = engine

    def collect(self) -> Iterable:
        e = self.engine
        lat = HistogramMetricFamily("venuelink_stage_latency_seconds",
                                    "Latency per venue and stage (frame received->decoded, decoded->book "
                                    "applied, order submit->ack, submit->first fill, REST round trip)",
                                    labels=["venue", "stage"])
        msgs = CounterMetricFamily("venuelink_frames", "WebSocket frames handled", labels=["venue"])
        errs = CounterMetricFamily("venuelink_frame_errors", "Frames dropped as undecodable (counted, logged)",
                                   labels=["venue"])
        unk = CounterMetricFamily("venuelink_unknown_symbol_frames", "Frames for symbols we do not track",
                                  labels=["venue"])
        util = GaugeMetricFamily("venuelink_ratelimit_utilization", "Used share of each rate-limit bucket (0-1)",
                                 labels=["venue", "bucket"])
        waits = CounterMetricFamily("venuelink_ratelimit_waits", "Requests that waited for budget", labels=["venue"])
        conn = GaugeMetricFamily("venuelink_connection_state", "0 disconnected, 1 connecting, 2 connected, "
                                 "3 backoff, 4 closed", labels=["venue", "connection"])
        reconn = CounterMetricFamily("venuelink_reconnects", "WebSocket reconnects", labels=["venue", "connection"])
        rotations = CounterMetricFamily("venuelink_rotations", "Make-before-break moves to a new WebSocket "
                                        "(venue notice or maximum connection age)", labels=["venue", "connection"])
        health = GaugeMetricFamily("venuelink_venue_health", "1 up, 2 degraded, 3 down, 4 unreachable (path: rest, "
                                   "rest_md, ws; the CCXT tier's worker adds ccxt_public, ccxt_private, ccxt_rest)",
                                   labels=["venue", "path"])
        bstate = GaugeMetricFamily("venuelink_book_state", "1 syncing, 2 live, 3 stale, 4 invalid",
                                   labels=["venue", "symbol"])
        bseq = GaugeMetricFamily("venuelink_book_last_sequence", "Last applied venue sequence id",
                                 labels=["venue", "symbol"])
        resyncs = CounterMetricFamily("venuelink_book_resyncs", "Book resyncs (gap, checksum, crossed)",
                                      labels=["venue", "symbol"])
        gaps = CounterMetricFamily("venuelink_book_gaps", "Sequence gaps detected", labels=["venue", "symbol"])
        stale = CounterMetricFamily("venuelink_book_stale_drops", "Deltas older than the book, dropped",
                                    labels=["venue", "symbol"])
        cks = CounterMetricFamily("venuelink_book_checksum_failures", "Book checksum mismatches",
                                  labels=["venue", "symbol"])
        snaps = CounterMetricFamily("venuelink_book_snapshots", "Snapshots applied", labels=["venue", "symbol"])
        dup_trades = CounterMetricFamily("venuelink_duplicate_trades", "Trades dropped as already seen (replay, "
                                         "rotation overlap)", labels=["venue", "symbol"])
        late = CounterMetricFamily("venuelink_order_updates_after_prune", "Late repeats about forgotten final "
                                   "orders, dropped", labels=["venue"])
        orders = GaugeMetricFamily("venuelink_orders", "Orders known to the order manager by state",
                                   labels=["venue", "state"])
        strat = CounterMetricFamily("venuelink_strategy_errors", "Strategy callbacks that raised (counted, logged; "
                                    "the feed goes on)", labels=["venue"])
        sink = CounterMetricFamily("venuelink_consumer_errors", "Exceptions out of frame consumers (never counted "
                                   "as dropped venue frames)", labels=["venue"])
        conn_gaps = CounterMetricFamily("venuelink_connection_sequence_gaps", "Gaps in connection-scoped sequences "
                                        "(every book on the connection resyncs)", labels=["venue", "connection"])
        avail = GaugeMetricFamily("venuelink_venue_available", "1 while the venue takes orders (its unavailable_policy "
                                  "applies while 0)", labels=["venue"])
        ck_off = GaugeMetricFamily("venuelink_checksum_validation_off", "1 when a connection's checksum "
                                   "validation was switched off after a run of failures (alert on it)",
                                   labels=["venue", "connection"])
        subs = CounterMetricFamily("venuelink_subscribe_errors", "Subscribe requests refused or unanswered",
                                   labels=["venue", "connection", "kind"])
        resub = CounterMetricFamily("venuelink_resubscribes", "Topics resubscribed to resync a book",
                                    labels=["venue", "connection"])
        rest = CounterMetricFamily("venuelink_rest_requests", "REST requests sent", labels=["venue"])
        rest_err = CounterMetricFamily("venuelink_rest_errors", "REST requests that failed", labels=["venue"])
        backfill = CounterMetricFamily("venuelink_trade_backfill", "Public trade backfill after a reconnect or an "
                                       "id jump: runs, trades delivered, trades known lost, failed fetches",
                                       labels=["venue", "kind"])
        out_drops = CounterMetricFamily("venuelink_outbound_drops", "Outbound frames (pings, user frames) dropped "
                                        "because too many waited for the venue's message budget",
                                        labels=["venue", "connection"])
        vstatus = GaugeMetricFamily("venuelink_venue_status", "The venue's own status from its status endpoint: "
                                    "0 unknown, 1 normal, 2 maintenance scheduled, 3 in maintenance",
                                    labels=["venue"])
        maint_at = GaugeMetricFamily("venuelink_venue_maintenance_start_seconds", "Start of the maintenance the "
                                     "venue announced or is in (epoch seconds; 0: none or not said)", labels=["venue"])
        status_polls = CounterMetricFamily("venuelink_venue_status_polls", "Status endpoint polls: sent, failed, "
                                           "unreadable answers", labels=["venue", "kind"])
        probes_lost = CounterMetricFamily("venuelink_breaker_probes_lost", "Half-open probes that never reported "
                                          "(not sent, cancelled, or past their lease)", labels=["venue", "breaker"])
        silence = CounterMetricFamily("venuelink_book_silence", "Data silence (venuelink.silence): books made STALE by "
                                      "a silent connection, silent books probed, probe verdicts (same: a quiet market; "
                                      "moved: stream lost, resynced; failed: left STALE), silent connections reconnected",
                                      labels=["venue", "kind"])
        adapter_ev = CounterMetricFamily("venuelink_adapter_events", "Events an adapter counts itself (CCXT tier: "
                                         "worker_starts, worker_exits, books_invalidated, off_grid_values, "
                                         "trades_lost, and the worker's own counters as worker_<name>: "
                                         "worker_tap_failures, worker_resubscribes, worker_probes ...)",
                                         labels=["venue", "kind"])
        tier_br = CounterMetricFamily("venuelink_ccxt_breaker_transitions", "CCXT tier worker's circuit breakers "
                                      "per connection type (ccxt_public, ccxt_private, ccxt_rest): transitions to open "
                                      "and back to closed since the worker started", labels=["venue", "path", "to"])
        worker = GaugeMetricFamily("venuelink_ccxt_worker", "CCXT tier worker over the last few seconds: its "
                                   "handler time per venue message (tap + CCXT's handler; p50, p99, max seconds) "
                                   "and venue messages per update handed to the engine", labels=["venue", "kind"])
        for rt in e.runtimes.values():
            v = rt.venue.name
            for kind, n in rt.adapter.counters().items():
                adapter_ev.add_metric([v, kind], n)
            gauges = getattr(rt.adapter, "gauges", None)
            for kind, x in (gauges() if gauges is not None else {}).items():
                worker.add_metric([v, kind], x)
            sc = rt.silence.counters
            for kind, n in (("connection_stale", sc.connection_silences), ("book_probed", sc.book_silences),
                            ("probe_same", sc.probes_same), ("probe_moved", sc.probes_moved),
                            ("probe_failed", sc.probes_failed), ("reconnects", sc.reconnects)):
                silence.add_metric([v, kind], n)
            for stage, h in rt.latency_histograms():
                histogram_family(lat, [v, stage], h)
            msgs.add_metric([v], sum(p.n_frames for p in rt.parsers))
            errs.add_metric([v], sum(p.n_errors for p in rt.parsers))
            unk.add_metric([v], sum(p.n_unknown_symbol for p in rt.parsers))
            for b, u in rt.budget.utilization().items():
                util.add_metric([v, b], u)
            waits.add_metric([v], rt.budget.waits)
            strat.add_metric([v], rt.strategy_errors)
            if rt.availability is not None:
                avail.add_metric([v], 1 if rt.availability.available else 0)
            sink.add_metric([v], sum(p.n_sink_errors for p in rt.parsers))
            pws = getattr(rt.execution, "private_ws", None)
            if pws is not None:
                conn.add_metric([v, "private"], int(pws.state))
                reconn.add_metric([v, "private"], pws.reconnects)
                rotations.add_metric([v, "private"], pws.rotations)
            for s in list(rt.sessions):
                conn.add_metric([v, s.name], int(s.state))
                reconn.add_metric([v, s.name], s.reconnects)
                rotations.add_metric([v, s.name], s.rotations)
                conn_gaps.add_metric([v, s.name], s.parser.n_conn_gaps)
                ck_off.add_metric([v, s.name], 1 if s.parser.checksum_off else 0)
                subs.add_metric([v, s.name, "refused"], s.sub_errors)
                subs.add_metric([v, s.name, "timeout"], s.sub_timeouts)
                resub.add_metric([v, s.name], s.resubscribes)
            health.add_metric([v, "rest"], int(rt.rest.breaker.health))
            health.add_metric([v, "rest_md"], int(rt.rest.md_breaker.health))
            health.add_metric([v, "ws"], int(rt.ws_health()))
            tier_health = getattr(rt.adapter, "breaker_health", None)     # the CCXT tier's worker
            if tier_health is not None:
                for c, h in tier_health().items():
                    health.add_metric([v, c.value], int(h))
                for c, r in dict(rt.adapter.breakers).items():
                    tier_br.add_metric([v, c.value, "open"], r.opens)
                    tier_br.add_metric([v, c.value, "closed"], r.closes)
                    probes_lost.add_metric([v, c.value], r.probes_lost)
            for fs in rt.feed_symbols():
                sym = fs.instrument.symbol
                sy = fs.sync
                bstate.add_metric([v, sym], sy.state)
                bseq.add_metric([v, sym], fs.book.seq)
                resyncs.add_metric([v, sym], sy.n_resyncs)
                gaps.add_metric([v, sym], sy.n_gaps)
                stale.add_metric([v, sym], sy.n_stale)
                cks.add_metric([v, sym], sy.n_checksum_failures)
                snaps.add_metric([v, sym], sy.n_snapshots)
                dup_trades.add_metric([v, sym], fs.n_dup_trades)
            if rt.orders is not None:
                counts: dict[str, int] = {}
                for o in list(rt.orders.orders.values()):      # scraped from another thread: copy first
                    counts[o.state.wire] = counts.get(o.state.wire, 0) + 1
                for st, n in counts.items():
                    orders.add_metric([v, st], n)
                late.add_metric([v], rt.orders.late_after_prune)
            rest.add_metric([v], rt.rest.requests)
            rest_err.add_metric([v], rt.rest.errors)
            bf = rt.backfill
            for kind, n in (("runs", bf.runs), ("delivered", bf.delivered), ("missing", bf.missing),
                            ("failures", bf.failures), ("gaps", bf.gaps), ("gaps_delayed", bf.gaps_delayed),
                            ("gaps_unfilled", bf.gaps_unfilled), ("unfilled_trades", bf.unfilled_trades)):
                backfill.add_metric([v, kind], n)
            for s in list(rt.sessions):
                out_drops.add_metric([v, s.name], s.out_drops)
            probes_lost.add_metric([v, "rest"], rt.rest.breaker.probes_lost)
            probes_lost.add_metric([v, "rest_md"], rt.rest.md_breaker.probes_lost)
            st = rt.status
            vstatus.add_metric([v], int(st.current.kind))
            maint_at.add_metric([v], st.current.begin_ns / 1e9)
            for kind, n in (("sent", st.polls), ("failed", st.failures), ("unreadable", st.unreadable)):
                status_polls.add_metric([v, kind], n)
        sdrops = CounterMetricFamily("venuelink_stream_drops", "Items an eng.stream() consumer lost by falling "
                                     "more than its queue bound behind (oldest dropped)")
        sdrops.add_metric([], e.stream_drops)
        yield sdrops
        from venuelink import tasks
        abandoned = CounterMetricFamily("venuelink_close_abandoned", "Close steps (tasks, sockets) that did "
                                        "not stop within their bound and were abandoned (logged)")
        abandoned.add_metric([], tasks.abandoned_tasks)
        yield abandoned
        yield from (lat, msgs, errs, unk, util, waits, conn, reconn, rotations, health, bstate, bseq, resyncs, gaps, stale,
                    cks, snaps, dup_trades, orders, late, strat, sink, avail, conn_gaps, ck_off, subs, resub, rest, rest_err,
                    backfill, out_drops, probes_lost, vstatus, maint_at, status_polls, silence, adapter_ev, tier_br,
                    worker)


def serve(engine: MetricsSource, host: str, port: int):
    """Start the /metrics HTTP endpoint in a thread; returns (server, registry)."""
    reg = CollectorRegistry()
    reg.register(EngineCollector(engine))
    server, _thread = start_http_server(port, addr=host, registry=reg)
    return server, reg
