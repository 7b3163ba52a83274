import enum
from typing import Any, Iterable
from venuelink.ext.book import L2Book
from venuelink.ext.checksum import Checksum
from venuelink.ext.histogram import Histogram
from venuelink.ext.sync import BookSync

class TradeIds(enum.IntEnum):
    TRADE_IDS_INCREASING = 1
    TRADE_IDS_OPAQUE = 2

class Control(enum.IntEnum):
    CTRL_OTHER = 0
    CTRL_SUBSCRIBED = 1
    CTRL_UNSUBSCRIBED = 2
    CTRL_ERROR = 3
    CTRL_PONG = 4
    CTRL_SHUTDOWN = 5
    CTRL_STATUS = 6
    CTRL_LOGIN = 7

class BadMessage(ValueError): ...

_Levels = Iterable[tuple[int, int]]

class FeedSymbol:
    instrument: Any
    venue_symbol: bytes
    book: L2Book
    sync: BookSync
    px_scale: int
    max_px: int
    qty_scale: int
    checksum: Checksum | None
    want_book: bool
    want_deltas: bool
    want_trades: bool
    want_top: bool
    want_derivs: bool
    n_msgs: int
    channel_state: dict[str, Any]
    max_lag_ns: int
    n_lagging: int
    trade_ids: int
    last_trade_id: int
    n_dup_trades: int
    max_recent_ids: int
    def __init__(self, instrument: Any, venue_symbol: bytes, rule: int, sync_listener: Any = None,
                 depth_cap: int = 0, checksum: Checksum | None = None,
                 trade_ids: int = TradeIds.TRADE_IDS_INCREASING) -> None: ...
    @property
    def trade_id_window(self) -> int: ...
    @property
    def trade_id_memory_bytes(self) -> int: ...
    def _bench_seen_trades(self, ids: bytes) -> int: ...
    def reset_trade_ids(self) -> None: ...

class FeedSink:
    def __init__(self) -> None: ...

class PySink(FeedSink):
    target: Any
    def __init__(self, target: Any) -> None: ...

class FrameParser:
    venue: Any
    sink: Any
    control: Any
    n_frames: int
    n_errors: int
    n_sink_errors: int
    n_unknown_symbol: int
    n_control: int
    n_checksum_failures: int
    n_checksum_zero: int
    zero_checksum_run: int
    checksum_streak: int
    max_checksum_streak: int
    checksum_off: bool
    conn_seq: int
    n_conn_gaps: int
    recv_to_decoded: Histogram
    decoded_to_applied: Histogram
    def add_symbol(self, fs: FeedSymbol) -> None: ...
    def lookup_py(self, venue_symbol: bytes) -> FeedSymbol | None: ...
    def symbol(self, venue_symbol: str | bytes) -> FeedSymbol | None: ...
    def symbols(self) -> list[FeedSymbol]: ...
    def reset_connection(self) -> None: ...
    def feed(self, data: bytes, ts_recv: int = 0) -> int: ...
    def emit_delta_py(self, fs: FeedSymbol, first: int, last: int, prev: int, bids: _Levels, asks: _Levels,
                      ts_exchange: int = 0, ts_recv: int = 0, checksum: int | None = None) -> int: ...
    def emit_snapshot_py(self, fs: FeedSymbol, seq: int, bids: _Levels, asks: _Levels, ts_exchange: int = 0,
                         ts_recv: int = 0, checksum: int | None = None) -> int: ...
    trade_block: bool
    def emit_trade_py(self, fs: FeedSymbol, trade_id: int | str, price: int, size: int, side: Any,
                      ts_exchange: int = 0, ts_recv: int = 0, block: bool = False) -> int: ...
    def emit_top_py(self, fs: FeedSymbol, bid_px: int, bid_qty: int, ask_px: int, ask_qty: int, seq: int = -1,
                    ts_exchange: int = 0, ts_recv: int = 0) -> int: ...
    def emit_derivative_py(self, fs: FeedSymbol, ev: Any) -> int: ...
    def emit_control_py(self, kind: int, topic: Any = None, req_id: int = -1, raw: bytes = b"") -> int: ...
    def check_conn_seq_py(self, seq: int) -> int: ...
    def _bench_frames(self, frames: list[bytes], start: int = 0, count: int = -1) -> int: ...

class PyFrameParser(FrameParser):
    def parse(self, frame: bytes, ts_recv: int, recv_mono: int) -> None: ...

class FeedListener:
    parser: FrameParser
    session: Any
    last_frame_mono: int
    n_frames: int
    def __init__(self, parser: FrameParser, session: Any = None) -> None: ...
