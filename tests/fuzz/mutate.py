# SPDX-License-Identifier: Apache-2.0
"""Mutations of real-format venue frames: byte-level damage (truncation, flipped, inserted and
deleted bytes, spliced runs) and structure-aware changes (values of another type, absurd
numbers, missing and unknown fields, duplicated and reordered keys, deep nesting, huge arrays,
negative sizes, crossed prices). Venue-neutral: it knows JSON, not any venue's fields."""
from __future__ import annotations

import json
import random

ODD_NUMBERS = [
    "0", "-0", "-1", "1", "0.0", "-0.00000001", "1e400", "1E-400", "1e18", "1e-18", "2.5e3", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616",
    "0.000000000000000000001", "123456789012345678901234567890", "00", "01", "1.", ".5", "+1", "-", "1e", "1e+",
    "1.2.3", "NaN", "Infinity", "-Infinity", "0x10", "1_000", "tru", "nul", "falsey", "1abc",
]
ODD_STRINGS = [
    "", " ", "0", "-1", "-0.5", "1e400", "1e-400", "NaN", "inf", " 1", "1 ", "1,5", "\u0661\u0662", "abc",
    "9223372036854775807", "99999999999999999999.99999999", "0.000000001", "\\u0031", "\\\"", "\u00e9", "BTCUSDT",
    "btcusdt", "ETHUSDT", "x" * 300,
]
ODD_VALUES = [None, True, False, [], {}, [[]], [["1"]], [[1, 2, 3]], {"a": 1}, 0, -1, 2**63, -(2**63) - 1, 1.5,
              1e300, "", "null"]


def _dumps(obj, rng: random.Random) -> str:
    return json.dumps(obj, separators=(",", ":") if rng.random() < 0.8 else (", ", ": "), ensure_ascii=rng.random() < 0.5)


def _paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:50]):
            yield from _paths(v, path + (i,))


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


def _set(obj, path, value):
    if not path:
        return value
    _get(obj, path[:-1])[path[-1]] = value
    return obj


class Raw(str):
    """A value written into the frame verbatim (a token JSON cannot express, e.g. 1e400 or tru)."""


def mutate_tree(obj, rng: random.Random) -> str:
    """A structure-aware mutation of a parsed frame, serialized back to text."""
    raws: dict[str, str] = {}
    paths = list(_paths(obj))
    path = rng.choice(paths)
    node = _get(obj, path)
    op = rng.randrange(12)
    if op == 0 and path:                                    # remove a field / element
        parent = _get(obj, path[:-1])
        del parent[path[-1]]
    elif op == 1:                                           # a value of another type
        obj = _set(obj, path, rng.choice(ODD_VALUES))
    elif op == 2:                                           # an odd number token, written raw
        tok = f"\x00raw{len(raws)}\x00"
        raws[tok] = rng.choice(ODD_NUMBERS)
        obj = _set(obj, path, tok)
    elif op == 3:                                           # an odd string
        obj = _set(obj, path, rng.choice(ODD_STRINGS))
    elif op == 4 and isinstance(node, dict):                # unknown field
        node[rng.choice(["zz", "extra", "E2", "u_", "x"])] = rng.choice(ODD_VALUES + [1, "1"])
    elif op == 5 and isinstance(node, dict) and node:       # keys reordered
        items = list(node.items())
        rng.shuffle(items)
        node.clear()
        node.update(items)
    elif op == 6 and isinstance(node, dict) and node:       # a key duplicated, before or after the real one
        k = rng.choice(list(node))
        tok = f"\x00raw{len(raws)}\x00"
        dup = f"{json.dumps(k)}:{json.dumps(rng.choice(ODD_VALUES))}"
        real = f"{json.dumps(k)}:{json.dumps(node[k])}"
        raws[tok] = ""
        del node[k]
        node[tok] = 0
        text = _dumps(obj, rng).replace(json.dumps(tok) + ":0", f"{dup},{real}" if rng.random() < 0.5
                                        else f"{real},{dup}").replace(json.dumps(tok) + ": 0", f"{dup},{real}")
        return _raws(text, raws)
    elif op == 7:                                           # deep nesting
        depth = rng.choice([50, 900, 1023, 1024, 1025, 3000])
        tok = f"\x00raw{len(raws)}\x00"
        raws[tok] = "[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth
        obj = _set(obj, path, tok)
    elif op == 8 and isinstance(node, list) and node:      # a huge array (levels repeated)
        node.extend([node[rng.randrange(len(node))]] * rng.choice([100, 5000]))
    elif op == 9 and isinstance(node, str):                 # a numeric string negated / scaled
        try:
            float(node)
        except ValueError:
            node = node + "0"
        obj = _set(obj, path, rng.choice(["-" + node, node + "0000", node + "e3", "0" * 30 + node, node[:1]]))
    elif op == 10 and isinstance(node, int) and not isinstance(node, bool):   # an integer moved
        obj = _set(obj, path, rng.choice([node + 1, node - 1, node + 10**6, -node, 0, 2**63 - 1, node * 1000,
                                          node // 2]))
    elif op == 11 and isinstance(node, list) and len(node) >= 2:            # elements swapped
        i, j = rng.randrange(len(node)), rng.randrange(len(node))
        node[i], node[j] = node[j], node[i]
    else:
        obj = _set(obj, path, rng.choice(ODD_VALUES))
    return _raws(_dumps(obj, rng), raws)


def _raws(text: str, raws: dict[str, str]) -> str:
    for tok, raw in raws.items():
        text = text.replace(json.dumps(tok), raw)
    return text


def mutate_bytes(frame: bytes, rng: random.Random) -> bytes:
    """Byte-level damage, as a broken network, proxy or venue bug produces."""
    b = bytearray(frame)
    if not b:
        return bytes(b)
    op = rng.randrange(8)
    i = rng.randrange(len(b))
    if op == 0:
        return bytes(b[:i])                                  # truncated
    if op == 1:
        del b[i]
    elif op == 2:
        b.insert(i, rng.choice(b'{}[]":,\\0-9e.+ \x00\xff\xc3tfn'))
    elif op == 3:
        b[i] = rng.randrange(256)
    elif op == 4:
        b[i] = rng.choice(b'{}[]":,0123456789-.eE ')
    elif op == 5:                                           # a run duplicated
        j = min(len(b), i + rng.randrange(1, 40))
        b[j:j] = b[i:j]
    elif op == 6:                                           # a run from elsewhere spliced in
        j = rng.randrange(len(b))
        k = min(len(b), j + rng.randrange(1, 40))
        b[i:i] = b[j:k]
    else:                                                   # two frames glued together
        return bytes(b) + bytes(b[: rng.randrange(len(b))])
    return bytes(b)


def mutate(line: bytes, rng: random.Random) -> bytes:
    """One mutated version of a recorded line (a frame, or a {"rest", "body"} line's body)."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):          # an earlier round's damage or deep nesting
        obj = None
    if obj is not None and rng.random() < 0.65:
        if isinstance(obj, dict) and "rest" in obj and "body" in obj and rng.random() < 0.8:
            body = mutate_tree(obj["body"], rng)
            return ('{"rest":' + json.dumps(obj["rest"]) + ',"body":' + body + "}").encode("utf-8", "surrogatepass")
        return mutate_tree(obj, rng).encode("utf-8", "surrogatepass")
    return mutate_bytes(line, rng)
