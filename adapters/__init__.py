"""Venue adapters: one package per exchange (wire format, signing, simulator dialect)."""
