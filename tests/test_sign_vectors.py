# SPDX-License-Identifier: Apache-2.0
"""Signing, one suite for every registered venue: the venue's examples in
tests/fixtures/<venue>/sign_vectors.json (published by the venue, or, where its own do not
reproduce, computed independently and marked so in "source") signed by the adapter's own
algorithm (VenueAdapter.sign_example) must give the recorded signature exactly, and a wrong
secret must not. A venue adds vectors, not test code."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from venuelink import registry
from venuelink.config import Credentials, Secret

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _cases() -> list[tuple[str, dict, dict]]:
    out = []
    for venue in registry.available():
        path = FIXTURES / venue / "sign_vectors.json"
        if path.exists():
            data = json.loads(path.read_text())
            out += [(venue, data["creds"], v) for v in data["vectors"]]
    return out


def _creds(c: dict, secret: str | None = None) -> Credentials:
    return Credentials(Secret(c["api_key"]), Secret(secret or c["api_secret"]),
                       passphrase=Secret(c["passphrase"]) if c.get("passphrase") else None)


def test_every_registered_venue_has_signing_vectors():
    assert {v for v, _, _ in _cases()} == set(registry.available())


@pytest.mark.parametrize("venue,creds,vector", _cases(), ids=[f"{v}-{x['id']}" for v, _, x in _cases()])
def test_the_adapter_signs_the_venues_examples_exactly(venue: str, creds: dict, vector: dict) -> None:
    a = registry.create(venue)
    assert vector["source"], "a vector names where it comes from"
    assert a.sign_example(vector["kind"], _creds(creds), vector["inputs"]) == vector["expect"]
    assert a.sign_example(vector["kind"], _creds(creds, "not-" + creds["api_secret"]), vector["inputs"]) \
        != vector["expect"]
