# SPDX-License-Identifier: Apache-2.0
"""Rate-limit usage a Binance WebSocket API reply reports, as the REST headers that carry it.

A WebSocket API reply lists ``rateLimits``: ``{"rateLimitType", "interval", "intervalNum",
"limit", "count"}`` per counter the request touched. The same counters come over REST as
``X-MBX-USED-WEIGHT-<n><unit>`` (``REQUEST_WEIGHT``) and ``X-MBX-ORDER-COUNT-<n><unit>``
(``ORDERS``), which the venue's buckets already name: translating the reply lets one budget
follow the venue's count whichever path the request took (spot and USD-M alike)."""
from __future__ import annotations

from typing import Any

_UNIT = {"SECOND": "s", "MINUTE": "m", "HOUR": "h", "DAY": "d"}
_PREFIX = {"REQUEST_WEIGHT": "x-mbx-used-weight-", "ORDERS": "x-mbx-order-count-"}


def usage_headers(rate_limits: Any) -> tuple[dict[str, str], int]:
    """``rateLimits`` of a reply -> (lower-case header name -> count as text, entries not
    understood). Counters with no REST header (``RAW_REQUESTS``) are skipped, not errors;
    an entry of the wrong shape is counted so the caller can report it."""
    if not isinstance(rate_limits, list):
        return {}, 0 if rate_limits is None else 1
    out: dict[str, str] = {}
    bad = 0
    for r in rate_limits:
        if not isinstance(r, dict):
            bad += 1
            continue
        prefix = _PREFIX.get(r.get("rateLimitType"))  # type: ignore[arg-type]
        if prefix is None and r.get("rateLimitType") == "RAW_REQUESTS":
            continue
        unit = _UNIT.get(r.get("interval"))  # type: ignore[arg-type]
        num, count = r.get("intervalNum"), r.get("count")
        if (prefix is None or unit is None or type(num) is not int or num <= 0
                or type(count) is not int or count < 0):
            bad += 1
            continue
        out[f"{prefix}{num}{unit}"] = str(count)
    return out, bad
