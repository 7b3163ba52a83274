from typing import Any
from ext.book import L2Book
from ext.histogram import Histogram
from ext.sync import BookSync

class FeedSymbol:
    instrument: Any
    venue_symbol: bytes
    book: L2Book
    sync: BookSync
    px_scale: int
    qty_scale: int
    want_book: bool
    want_trades: bool
    want_top: bool
    n_msgs: int
    def __init__(self, instrument: Any, venue_symbol: bytes, rule: int, sync_listener: Any = None,
                 depth_cap: int = 0) -> None: ...

class FrameParser:
    venue: Any
    sink: Any
    n_frames: int
    n_errors: int
    n_unknown_symbol: int
    recv_to_decoded: Histogram
    decoded_to_applied: Histogram
    def add_symbol(self, fs: FeedSymbol) -> None: ...
    def symbol(self, venue_symbol: str | bytes) -> FeedSymbol | None: ...
    def symbols(self) -> list[FeedSymbol]: ...
    def feed(self, data: bytes, ts_recv: int = 0) -> int: ...
    def _bench_frames(self, frames: list[bytes], start: int = 0, count: int = -1) -> int: ...

class FeedListener:
    parser: FrameParser
    session: Any
    last_frame_mono: int
    n_frames: int
    def __init__(self, parser: FrameParser, session: Any = None) -> None: ...
