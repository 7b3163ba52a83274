"""venuelink engine: the venue-agnostic runtime (model, connections, books, orders, metrics)."""
