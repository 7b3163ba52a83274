# SPDX-License-Identifier: Apache-2.0
"""Client order ids, made here for every venue: unique within a process and across restarts, and
legal at the strictest common venue rules."""
from __future__ import annotations

import re
import secrets
import threading
import time

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]{0,12}")


_SEQ_SPAN = 36 ** 3


_RAND_SPAN = 36 ** 8


_id_lock = threading.Lock()


_id_last_ms = 0


_id_seq = 0


def _b36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(reversed(out))


def make_client_order_id(prefix: str = "vl") -> str:
    """``prefix`` + 9 base36 chars of epoch ms + 3 base36 chars of sequence + 8 random base36 chars.

    At most 32 characters from [A-Za-z0-9_-] (all alphanumeric with an alphanumeric prefix, which
    suits the strictest common venue rules).  Within a process the (ms, sequence) pair strictly
    increases -- the millisecond never goes backwards even if the wall clock does, and borrows the
    next millisecond when 46656 ids were made in one -- so ids never repeat.  Across processes and
    restarts, uniqueness rests on the timestamp plus 41 random bits.
    """
    global _id_last_ms, _id_seq
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"client order id prefix must be 0-12 chars of [A-Za-z0-9_-], got {prefix!r}")
    now_ms = time.time_ns() // 1_000_000
    with _id_lock:
        if now_ms > _id_last_ms:
            _id_last_ms, _id_seq = now_ms, 0
        else:
            _id_seq += 1
            if _id_seq >= _SEQ_SPAN:
                _id_last_ms, _id_seq = _id_last_ms + 1, 0
        ms, seq = _id_last_ms, _id_seq
    return prefix + _b36(ms, 9) + _b36(seq, 3) + _b36(secrets.randbelow(_RAND_SPAN), 8)
