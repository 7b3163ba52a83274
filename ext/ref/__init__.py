"""Pure-Python reference models of the ext/ modules, for differential tests."""
