import enum
from typing import Any, Iterable
from venuelink.ext.book import L2Book

class SeqRule(enum.IntEnum):
    SEQ_FIRST_LAST = 1
    SEQ_PREV = 2
    SEQ_NONE = 3

class BookStateC(enum.IntEnum):
    BOOK_SYNCING = 1
    BOOK_LIVE = 2
    BOOK_STALE = 3
    BOOK_INVALID = 4

class SyncResult(enum.IntEnum):
    SYNC_APPLIED = 1
    SYNC_BUFFERED = 2
    SYNC_STALE_DROP = 3
    SYNC_GAP = 4
    SYNC_SNAPSHOT_OLD = 5

class BookSync:
    book: L2Book
    rule: int
    state: int
    key: Any
    listener: Any
    max_pending: int
    max_stale_run: int
    buffering: bool
    hold_stale: bool
    n_applied: int
    n_buffered: int
    n_stale: int
    n_gaps: int
    n_resyncs: int
    n_snapshots: int
    n_crossed: int
    n_checksum_failures: int
    n_dropped_syncing: int
    n_listener_errors: int
    ts_last_recv: int
    def __init__(self, book: L2Book, rule: int, key: Any = None, listener: Any = None) -> None: ...
    def invalidate(self, reason: str) -> None: ...
    def mark_stale(self) -> None: ...
    def confirm_live(self) -> bool: ...
    def reset(self) -> None: ...
    @property
    def is_live(self) -> bool: ...
    @property
    def pending(self) -> int: ...
    def current_levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]: ...
    def delta(self, first: int, last: int, prev: int, bids: Iterable[tuple[int, int]],
              asks: Iterable[tuple[int, int]], ts_exchange: int = 0, ts_recv: int = 0) -> int: ...
    def snapshot(self, seq: int, bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]],
                 ts_exchange: int = 0, ts_recv: int = 0) -> int: ...
