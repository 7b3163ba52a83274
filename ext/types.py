# SPDX-License-Identifier: Apache-2.0
"""Python mirror of the cpdef enums declared in ext/types.pxd."""
from enum import IntEnum


class Side(IntEnum):
    BID = 1
    ASK = 2
