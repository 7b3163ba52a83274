# SPDX-License-Identifier: Apache-2.0
"""Private pushes, one suite for every registered venue: the order and position pushes a venue's
private stream delivers, kept documentation-shaped in tests/fixtures/<venue>/private/pushes.jsonl
(instruments first as {"rest": ..., "body": ...}, then each push as the stream's frame), handed
to the venue's execution client must produce exactly the order updates, fills and positions of
pushes.golden beside it (states, quantities, prices and fees exact; ids; the venue's times).
Pushes the engine does not act on give nothing; a malformed one is a counted drop (bad_events).

An intended change rewrites the goldens (``VL_GOLDEN_UPDATE=1``), reviewed with the change."""
from __future__ import annotations

import dataclasses
import enum
import json
import os
from pathlib import Path

import pytest

from venuelink import registry
from venuelink.budget import VenueBudget
from venuelink.config import Credentials, Secret, VenueConfig
from venuelink.tools.normalize import _as_rest
from venuelink.rest import RestClient

FIXTURES = Path(__file__).resolve().parent / "fixtures"
UPDATE = os.environ.get("VL_GOLDEN_UPDATE") == "1"
VENUES = registry.trading()


def _plain(obj):
    """A model object as JSON-ready data: enums by name, the local receive time left out (it is
    ours, not the venue's)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "ts_recv"}
    if isinstance(obj, enum.Enum) or hasattr(obj, "name") and type(obj).__name__ == "VenueId":
        return obj.name
    return obj


async def replay(venue: str, path: Path) -> str:
    adapter = registry.create(venue)
    rest = RestClient(venue, "http://127.0.0.1:9", VenueBudget(adapter.spec), map_error=adapter.map_error)
    ex = adapter.make_execution(rest, Credentials(Secret("key"), Secret("secret"), Secret("pass")),
                                VenueConfig(name=venue))
    out: list[str] = []
    ex.on_update = lambda u: out.append(json.dumps({"update": _plain(u)}, sort_keys=True))
    if hasattr(ex, "on_position"):
        ex.on_position = lambda p: out.append(json.dumps({"position": _plain(p)}, sort_keys=True))
    try:
        for i, line in enumerate(path.read_bytes().splitlines(), 1):
            rest_line = _as_rest(line)
            if rest_line is not None:
                insts = adapter.parse_instruments(rest_line[1])
                adapter.set_instruments([*adapter.instruments.values(), *insts])
                continue
            bad = ex.bad_events
            ex._on_push(json.loads(line))
            if ex.bad_events > bad:
                out.append(f"# line {i}: dropped")
    finally:
        await rest.close()
    return "\n".join(out) + "\n"


def test_every_registered_venue_has_private_pushes():
    assert {v for v in VENUES if (FIXTURES / v / "private" / "pushes.jsonl").exists()} == set(VENUES)


@pytest.mark.parametrize("venue", VENUES)
async def test_pushes_become_exactly_the_golden_updates(venue: str) -> None:
    path = FIXTURES / venue / "private" / "pushes.jsonl"
    golden = path.with_suffix(".golden")
    got = await replay(venue, path)
    if UPDATE:
        golden.write_text(got)
    want = golden.read_text()
    for n, (a, b) in enumerate(zip(got.splitlines(), want.splitlines()), 1):
        assert a == b, f"{venue}: output {n} differs\n got: {a}\nwant: {b}"
    assert got == want
    updates = [json.loads(x)["update"] for x in want.splitlines() if x.startswith('{"update"')]
    assert len(updates) >= 5 and any(u["fill"] for u in updates), "the pushes must show orders and fills"
