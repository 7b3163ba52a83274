from typing import Any

from venuelink.ext.feed import FeedSymbol, FrameParser

class WireParser(FrameParser):
    wire: Any
    def __init__(self, venue: Any = ..., sink: Any = ..., *, wire: Any) -> None: ...
    def on_snapshot(self, fs: FeedSymbol, data: bytes, ts_recv: int = ...) -> int: ...
