import enum
from venuelink.ext.book import L2Book

class ChecksumLayout(enum.IntEnum):
    INTERLEAVED = 1
    ASKS_THEN_BIDS = 2
    BIDS_THEN_ASKS = 3

class Checksum:
    def __init__(self, depth: int, layout: int = 1, sep: str = ":", px_frac: int = -1, qty_frac: int = -1,
                 strip_dot_zeros: bool = False, negate_ask_qty: bool = False) -> None: ...
    def string(self, book: L2Book) -> str: ...
    def crc32_of(self, book: L2Book) -> int: ...
    def crc32_signed_of(self, book: L2Book) -> int: ...
