"""venuelink: one interface to many crypto exchanges (the runtime a strategy process imports).

    from venuelink import Engine, OrderRequest, Side, OrderType, load_config

Everything a strategy names is importable from here; the modules behind it (``venuelink.model``,
``venuelink.engine``, ``venuelink.errors``, ``venuelink.derivatives``, ``venuelink.ext.events``)
hold the same objects. Names resolve on first use, so ``import venuelink.ext.book`` (or a
simulator process) does not load the engine. The operator tools (``venuelink.tools``) and the
simulators (``venuelink.sim``) are rooms of their own: this runtime never imports them.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOME = {
    "venuelink.engine": ("Engine", "BookView", "BookSnapshot"),
    "venuelink.config": ("Config", "VenueConfig", "Credentials", "Secret", "load_config"),
    "venuelink.model": ("VenueId", "Instrument", "InstrumentStatus", "MarketKind", "Side", "PositionSide",
                        "OrderType", "TimeInForce", "OrderState", "BookState", "ConnState", "VenueHealth",
                        "TopOfBook", "OrderRequest", "Order", "OrderUpdate", "Fill", "Balance", "Position"),
    "venuelink.errors": ("EngineError", "ConfigError", "VenueError", "AuthError", "RateLimited", "IpBanned",
                         "Rejected", "UnknownOrder", "TimestampError", "ExecutionUnknown", "CircuitOpen",
                         "BudgetTimeout", "SequenceGap", "BookNotLive", "VenueUnavailable"),
    "venuelink.derivatives": ("DerivEvent", "DerivKind", "MarkPrice", "IndexPrice", "FundingRate", "OpenInterest",
                              "Liquidation"),
    "venuelink.ext.events": ("Trade",),
}
_WHERE = {name: module for module, names in _HOME.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'venuelink' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from venuelink.config import Config, Credentials, Secret, VenueConfig, load_config
    from venuelink.derivatives import (DerivEvent, DerivKind, FundingRate, IndexPrice, Liquidation, MarkPrice,
                                       OpenInterest)
    from venuelink.engine import BookSnapshot, BookView, Engine
    from venuelink.errors import (AuthError, BookNotLive, BudgetTimeout, CircuitOpen, ConfigError, EngineError,
                                  ExecutionUnknown, IpBanned, RateLimited, Rejected, SequenceGap, TimestampError,
                                  UnknownOrder, VenueError, VenueUnavailable)
    from venuelink.ext.events import Trade
    from venuelink.model import (Balance, BookState, ConnState, Fill, Instrument, InstrumentStatus, MarketKind,
                                 Order, OrderRequest, OrderState, OrderType, OrderUpdate, Position, PositionSide,
                                 Side, TimeInForce, TopOfBook, VenueHealth, VenueId)
