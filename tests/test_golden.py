# SPDX-License-Identifier: Apache-2.0
"""Golden replay, one suite for every registered venue: each recorded conversation a venue keeps
in tests/fixtures/<venue>/ (``session*.jsonl``, ``derivatives*.jsonl``, ``rest_book*.jsonl``:
documentation-shaped frames and REST answers) replayed through `venuelink normalize --book`,
with a fixed receive time per line, must print exactly the events of its golden file beside it
(``<name>.golden``: one normalized event per line, the bad lines' reasons last), through the C
parser and through its pure-Python twin alike.

A change that alters what a venue's frames become fails here with the first differing event; an
intended change rewrites the goldens (``VL_GOLDEN_UPDATE=1 .venv/bin/python -m pytest -q
tests/test_golden.py``) and the diff of the .golden files is then reviewed with the change."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from venuelink import registry
from venuelink.tools.normalize import Replayer

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PATTERNS = ("session*.jsonl", "derivatives*.jsonl", "rest_book*.jsonl")
TS_RECV = 1_700_000_000_000_000_000
UPDATE = os.environ.get("VL_GOLDEN_UPDATE") == "1"


def recordings() -> list[tuple[str, Path]]:
    out = []
    for venue in registry.available():
        for pattern in PATTERNS:
            out += [(venue, f) for f in sorted((FIXTURES / venue).glob(pattern))]
    return out


def replay(venue: str, path: Path, reference: bool) -> str:
    out = io.StringIO()
    rp = Replayer(venue, out, with_book=True, reference=reference)
    bad = []
    for i, line in enumerate(path.read_bytes().splitlines(), 1):
        why = rp.line(line, TS_RECV + i * 1_000_000)
        if why is not None:
            bad.append(f"line {i}: {why}")
    return out.getvalue() + "".join(f"# {b}\n" for b in bad)


def test_every_registered_venue_has_a_recorded_conversation():
    venues = {v for v, _ in recordings()}
    assert venues == set(registry.available()), set(registry.available()) - venues


@pytest.mark.parametrize("venue,path", recordings(), ids=[f"{v}-{p.name}" for v, p in recordings()])
def test_replay_matches_its_golden_file(venue: str, path: Path) -> None:
    golden = path.with_suffix(".golden")
    got = replay(venue, path, reference=False)
    if UPDATE:
        golden.write_text(got)
    assert golden.exists(), f"no golden file {golden.name}: write it with VL_GOLDEN_UPDATE=1 and review it"
    want = golden.read_text()
    if got != want:
        for n, (a, b) in enumerate(zip(got.splitlines(), want.splitlines()), 1):
            assert a == b, f"{path.name}: event {n} differs\n got: {a}\nwant: {b}"
        assert got == want, f"{path.name}: {len(got.splitlines())} events, the golden file has {len(want.splitlines())}"
    assert len(want.splitlines()) >= 5, "a recording that normalizes to almost nothing proves little"
    # the twin reads the same frames to the same events (its bad-line reasons may be worded apart)
    twin = [ln for ln in replay(venue, path, reference=True).splitlines() if not ln.startswith("# ")]
    assert twin == [ln for ln in want.splitlines() if not ln.startswith("# ")]
