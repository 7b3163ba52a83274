"""Example strategies written against the public API."""
