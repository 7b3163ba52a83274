# SPDX-License-Identifier: Apache-2.0
"""Reference twin of venuelink.ext.json (include/vl_json.hpp): the same acceptance rules, in plain Python.

The C decoder reads frames with simdjson On-Demand, whose contract this module states in the
open so the venue parsers' twins can be compared with the C parsers frame by frame:

* the frame's root must be an object, with its fields well formed (keys, colons, commas) up
  to its closing brace and nothing after it; strings closed, UTF-8 valid;
* a nested object or array is parsed only when a decoder reads it: until then only its extent
  counts (brackets of either kind, strings skipped), so damage inside a value nobody reads does
  not reject the frame, and a scalar token (number, true/false/null) is checked only when read;
* a scalar token runs on through a string glued to it with no separator (`12"13"`), as
  simdjson's structural index sees it;
* strings are their raw text between the quotes (escapes are not decoded; symbols and ids
  never contain them), and keys are compared raw too;
* a field lookup searches the object from just after the previous field found and wraps
  around once;
* a key that is read must occur once in the object it is read from: a second occurrence is a
  DuplicateKeyError (never first-wins). Keys nobody reads may repeat, and the same key in two
  different objects is two keys. (The C reader finds the second occurrence on its one pass over
  the object, at the latest when the decoder walks the object to its end before emitting; this
  twin, holding the whole object, refuses it at the lookup. A frame with a duplicate and
  another error may therefore be refused for the other reason first by one of the two.)
* integers are JSON integers in int64; decimals are the token text (string or number) parsed
  exactly by venuelink.ext.ref.decimal_ref at the field's scale.

Errors are the same classes venuelink.ext.json raises (MalformedJSONError, MissingFieldError,
FieldTypeError, FieldValueError, DuplicateKeyError), so a twin drops a frame for the same kind of reason.
"""
from __future__ import annotations

import re

from venuelink.ext.json import (DuplicateKeyError, FieldCountError, FieldTypeError, FieldValueError, MalformedJSONError,
                      MissingFieldError)
from venuelink.ext.ref import decimal_ref

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_WS = " \t\n\r"
_STRUCTURAL = set('{}[],:"') | set(_WS)


class Atom:
    """A scalar token as it appears in the frame (validated when read)."""
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Str:
    """A string's raw text between its quotes."""
    __slots__ = ("raw",)

    def __init__(self, raw: str) -> None:
        self.raw = raw


class Obj:
    """An object's fields in frame order, with the On-Demand lookup cursor."""
    __slots__ = ("fields", "cursor")

    def __init__(self, fields: list[tuple[str, object]]) -> None:
        self.fields = fields
        self.cursor = 0

    def find(self, key: str) -> object:
        n = len(self.fields)
        for k in range(n):
            i = (self.cursor + k) % n
            if self.fields[i][0] == key:
                if any(k == key for j, (k, _) in enumerate(self.fields) if j != i):
                    raise DuplicateKeyError(f"duplicate key {key!r} in one object")
                self.cursor = i + 1
                return self.fields[i][1]
        raise MissingFieldError(f"missing field {key!r}")


class Lazy:
    """A nested object or array nobody has read yet: its extent is known (brackets counted,
    strings skipped), its inside is parsed when a decoder reads it."""
    __slots__ = ("text", "start", "value")

    def __init__(self, text: str, start: int) -> None:
        self.text, self.start, self.value = text, start, None

    def get(self) -> object:
        if self.value is None:
            parse = _object if self.text[self.start] == "{" else _array
            self.value = parse(self.text, self.start)[0]
        return self.value


def load(frame: bytes) -> Obj:
    if not frame:
        raise MalformedJSONError("empty frame")
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJSONError("malformed or truncated JSON") from None
    i = _skip(text, 0)
    if i < len(text) and text[i] == "[":
        raise FieldTypeError("frame root is not a JSON object")
    if i >= len(text) or text[i] != "{":
        raise MalformedJSONError("malformed or truncated JSON")
    root, pos = _object(text, i)
    if _skip(text, pos) != len(text):
        raise MalformedJSONError("malformed or truncated JSON")
    return root


def _skip(t: str, i: int) -> int:
    while i < len(t) and t[i] in _WS:
        i += 1
    return i


def _bad() -> MalformedJSONError:
    return MalformedJSONError("malformed or truncated JSON")


def _string(t: str, i: int) -> tuple[str, int]:
    j = i + 1
    while True:
        if j >= len(t):
            raise _bad()
        c = t[j]
        if c == '"':
            return t[i + 1:j], j + 1
        if c < " ":                                  # unescaped control character
            raise _bad()
        j += 2 if c == "\\" else 1


def _extent(t: str, i: int) -> int:
    """End of the container opening at t[i]: brackets of either kind counted, strings skipped
    (how On-Demand skips a value it is not asked for)."""
    depth = 0
    while i < len(t):
        c = t[i]
        if c == '"':
            i = _string(t, i)[1]
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise _bad()


def _value(t: str, i: int) -> tuple[object, int]:
    if i >= len(t):
        raise _bad()
    c = t[i]
    if c == '"':
        raw, i = _string(t, i)
        return Str(raw), i
    if c in "{[":
        return Lazy(t, i), _extent(t, i)
    j = i
    while True:
        while j < len(t) and t[j] not in _STRUCTURAL:
            j += 1
        if j > i and j < len(t) and t[j] == '"':
            # simdjson's structural index has no token boundary between scalar characters and a
            # string glued to them (12"13", t"1"): one token, rejected only if it is read
            j = _string(t, j)[1]
            continue
        break
    if j == i:
        raise _bad()
    return Atom(t[i:j]), j


def _object(t: str, i: int) -> tuple[Obj, int]:
    fields: list[tuple[str, object]] = []
    i = _skip(t, i + 1)
    if i < len(t) and t[i] == "}":
        return Obj(fields), i + 1
    while True:
        if i >= len(t) or t[i] != '"':
            raise _bad()
        key, i = _string(t, i)
        i = _skip(t, i)
        if i >= len(t) or t[i] != ":":
            raise _bad()
        val, i = _value(t, _skip(t, i + 1))
        fields.append((key, val))
        i = _skip(t, i)
        if i < len(t) and t[i] == ",":
            i = _skip(t, i + 1)
            continue
        if i < len(t) and t[i] == "}":
            return Obj(fields), i + 1
        raise _bad()


def _array(t: str, i: int) -> tuple[list, int]:
    items: list = []
    i = _skip(t, i + 1)
    if i < len(t) and t[i] == "]":
        return items, i + 1
    while True:
        val, i = _value(t, i)
        items.append(val)
        i = _skip(t, i)
        if i < len(t) and t[i] == ",":
            i = _skip(t, i + 1)
            continue
        if i < len(t) and t[i] == "]":
            return items, i + 1
        raise _bad()


def _read(v: object) -> object:
    return v.get() if isinstance(v, Lazy) else v


# ---- typed reads (vl_doc_*) ------------------------------------------------------------------
def _malformed_scalar(v: Atom) -> bool:
    """A token whose first character names no JSON type (simdjson's type() fails on it)."""
    c = v.text[0]
    return not (c == "-" or c.isdigit() or c in "tfn")


def enter(obj: Obj, key: str) -> Obj:
    v = _read(obj.find(key))
    if isinstance(v, Obj):
        return v
    if isinstance(v, Atom) and _malformed_scalar(v):
        raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})")
    raise FieldTypeError(f"field {key!r} has the wrong JSON type")


def enter_only(obj: Obj, key: str) -> Obj:
    """The single object of the array at `key` (vl_doc_enter_only + the end-of-frame check)."""
    v = _read(obj.find(key))
    if not isinstance(v, list):
        if isinstance(v, Atom) and _malformed_scalar(v):
            raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})")
        raise FieldTypeError(f"field {key!r} has the wrong JSON type")
    if not v:
        raise FieldCountError(f"field {key!r}: an array that must hold exactly one object holds none or several")
    first = _read(v[0])
    if not isinstance(first, Obj):
        if isinstance(first, Atom) and _malformed_scalar(first):
            raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})")
        raise FieldTypeError(f"field {key!r} has the wrong JSON type")
    if len(v) > 1:
        raise FieldCountError("an array that must hold exactly one object holds several")
    return first


def get_str(obj: Obj, key: str) -> str:
    v = obj.find(key)
    if isinstance(v, Str):
        return v.raw
    if isinstance(v, Atom) and _malformed_scalar(v):
        raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})")
    raise FieldTypeError(f"field {key!r} has the wrong JSON type")


def int_of(v: object, key: str) -> int:
    if not isinstance(v, Atom):
        raise FieldTypeError(f"field {key!r} has the wrong JSON type")
    if _INT.match(v.text):
        n = int(v.text)
        if INT64_MIN <= n <= INT64_MAX:
            return n
        raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})")
    if _NUMBER.match(v.text) or v.text in ("true", "false", "null"):
        raise FieldTypeError(f"field {key!r} has the wrong JSON type")
    raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})")


def get_int(obj: Obj, key: str) -> int:
    return int_of(obj.find(key), key)


def get_bool(obj: Obj, key: str) -> bool:
    v = obj.find(key)
    if isinstance(v, Atom):
        if v.text == "true":
            return True
        if v.text == "false":
            return False
        if _malformed_scalar(v) or v.text[0] in "tf":
            raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})")
    raise FieldTypeError(f"field {key!r} has the wrong JSON type")


def fixed_of(v: object, scale: int, key: str) -> int:
    """A decimal given as a JSON string or number: its token text parsed exactly."""
    if isinstance(v, Str):
        text = v.raw
    elif isinstance(v, Atom):
        if _malformed_scalar(v):
            raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})")
        if v.text[0] in "tfn":
            raise FieldTypeError(f"field {key!r} has the wrong JSON type")
        text = v.text
    else:
        raise FieldTypeError(f"field {key!r} has the wrong JSON type")
    try:
        return decimal_ref.parse(text, scale)
    except ValueError as e:
        raise FieldValueError(f"field {key!r}: {e}") from None


def get_fixed(obj: Obj, key: str, scale: int) -> int:
    return fixed_of(obj.find(key), scale, key)


def get_levels(obj: Obj, key: str, px_scale: int, qty_scale: int) -> list[tuple[int, int]]:
    """[[price, size, ...], ...] (extra elements ignored) as mantissa pairs."""
    arr = _read(obj.find(key))
    if not isinstance(arr, list):
        if isinstance(arr, Atom) and _malformed_scalar(arr):
            raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})")
        raise FieldTypeError(f"field {key!r} has the wrong JSON type")
    out = []
    for i, item in enumerate(arr):
        where = f"{key}[{i}]"
        item = _read(item)
        if not isinstance(item, list):
            raise FieldTypeError(f"field {where!r} has the wrong JSON type")
        if len(item) < 2:
            raise FieldTypeError(f"field {where!r} has the wrong JSON type")
        out.append((fixed_of(item[0], px_scale, where), fixed_of(item[1], qty_scale, where)))
    return out


def _array_at(obj: Obj, key: str) -> list:
    arr = _read(obj.find(key))
    if not isinstance(arr, list):
        if isinstance(arr, Atom) and _malformed_scalar(arr):
            raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})")
        raise FieldTypeError(f"field {key!r} has the wrong JSON type")
    return arr


def get_levels_cols(obj: Obj, key: str, px_col: int, qty_col: int, px_scale: int,
                    qty_scale: int) -> list[tuple[int, int]]:
    """Rows with price and size at columns px_col / qty_col (vl_doc_levels_cols): the two columns
    are read in column order, then a row too short for either is a type error."""
    out = []
    for i, item in enumerate(_array_at(obj, key)):
        where = f"{key}[{i}]"
        item = _read(item)
        if not isinstance(item, list):
            raise FieldTypeError(f"field {where!r} has the wrong JSON type")
        got: dict[int, int] = {}
        for col, scale in sorted(((px_col, px_scale), (qty_col, qty_scale))):
            if col < len(item):
                got[col] = fixed_of(item[col], scale, where)
        if max(px_col, qty_col) >= len(item):
            raise FieldTypeError(f"field {where!r} has the wrong JSON type")
        out.append((got[px_col], got[qty_col]))
    return out


def get_levels_sides(obj: Obj, key: str, side_key: str, bid_text: str, ask_text: str, px_key: str,
                     qty_key: str, qty_optional: bool, px_scale: int,
                     qty_scale: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """One array of objects naming their side (vl_doc_levels_sides): side, then price, then size
    are read per row; a side that is neither text is a value error; with qty_optional a row
    without the size has size 0."""
    bids: list[tuple[int, int]] = []
    asks: list[tuple[int, int]] = []
    for i, item in enumerate(_array_at(obj, key)):
        where = f"{key}[{i}]"
        o = _read(item)
        if not isinstance(o, Obj):
            raise FieldTypeError(f"field {where!r} has the wrong JSON type")
        try:
            side = _read(o.find(side_key))
        except MissingFieldError:
            raise MissingFieldError(f"missing field {where!r}") from None
        if not isinstance(side, Str):
            if isinstance(side, Atom) and _malformed_scalar(side):
                raise MalformedJSONError(f"malformed or truncated JSON (at {where!r})")
            raise FieldTypeError(f"field {where!r} has the wrong JSON type")
        if side.raw == bid_text:
            out = bids
        elif side.raw == ask_text:
            out = asks
        else:
            raise FieldValueError(f"field {where!r}: a row whose side is neither of the venue's two")
        try:
            px = fixed_of(o.find(px_key), px_scale, where)
        except MissingFieldError:
            raise MissingFieldError(f"missing field {where!r}") from None
        try:
            qv = o.find(qty_key)
        except MissingFieldError:
            if not qty_optional:
                raise MissingFieldError(f"missing field {where!r}") from None
            out.append((px, 0))
            continue
        out.append((px, fixed_of(qv, qty_scale, where)))
    return bids, asks


def get_array(obj: Obj, key: str) -> list:
    """The array at `key`, its elements unread (vl_doc_objects)."""
    return _array_at(obj, key)


def object_at(arr: list, i: int, key: str) -> Obj:
    """Element `i` of an array from get_array as an object (vl_doc_next_object)."""
    o = _read(arr[i])
    if not isinstance(o, Obj):
        if isinstance(o, Atom) and _malformed_scalar(o):
            raise MalformedJSONError(f"malformed or truncated JSON (at {key}[{i}])")
        raise FieldTypeError(f"field '{key}[{i}]' has the wrong JSON type")
    return o
