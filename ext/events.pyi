from typing import Any

class Trade:
    venue: Any
    instrument: Any
    trade_id_int: int
    price: int
    size: int
    side: Any
    ts_exchange: int
    ts_recv: int
    ts_event: int
    def __init__(self, venue: Any, instrument: Any, trade_id: int | str, price: int, size: int, side: Any,
                 ts_exchange: int, ts_recv: int, ts_event: int = 0) -> None: ...
    @property
    def trade_id(self) -> str: ...
    def to_json(self) -> dict: ...
