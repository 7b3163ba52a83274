# SPDX-License-Identifier: Apache-2.0
"""Low-rate venue pushes decoded in Python (liquidations, mark prices), shared by a venue's C
parser and its twin: JSON read with the C reader's rules (no NaN / Infinity constants, no
repeated key) and string fields taken with the reason in the error (``where`` names the place)."""
from __future__ import annotations

import json
from typing import Any

from venuelink.ext.json import JSONError


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise JSONError(f"duplicate key {dup!r}")
    return out


def _constant(name: str) -> Any:
    raise JSONError(f"{name} is not a JSON number")


def load(frame: bytes | str) -> Any:
    """The frame's JSON value, refused (JSONError) as the C reader refuses it."""
    try:
        return json.loads(frame, object_pairs_hook=_pairs, parse_constant=_constant)
    except ValueError as e:
        raise JSONError(f"malformed JSON: {e}") from None


def text(obj: dict, key: str, where: str) -> str:
    """``obj[key]`` where it is a string, else JSONError("<where>.<key> missing or not a string")."""
    v = obj.get(key)
    if not isinstance(v, str):
        raise JSONError(f"{where}.{key} missing or not a string")
    return v
