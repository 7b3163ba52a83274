# SPDX-License-Identifier: Apache-2.0
"""The venues' manifests (``adapters/<venue>/__init__.py``: ``VENUE``, ``ADAPTER``, ``SIMULATOR``,
``EXTENSIONS``, optionally ``ORDERS``; see adapters/__init__.py), read as plain files: venuelink.registry, the simulator
runner and setup.py take every venue from them, and nothing is imported to find them."""
from __future__ import annotations

import runpy
from dataclasses import dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent
ADAPTERS_DIR = _HERE / "adapters" if (_HERE / "adapters").is_dir() else _HERE.parent / "adapters"
"""the venues' folders: beside this module once installed (venuelink/adapters), the repository's
adapters/ in a checkout (engine/ and adapters/ side by side)"""
FIELDS = ("VENUE", "ADAPTER", "SIMULATOR", "EXTENSIONS")


@dataclass(frozen=True)
class Manifest:
    venue: str
    adapter: str                # "module:Class"
    simulator: str              # module, "" for none
    extensions: tuple[dict, ...]
    folder: Path
    orders: bool = True         # ORDERS: the native adapter places orders (False: market data only;
                                # the CCXT tier trades the venue until native order entry lands)


def venue_folders(root: Path = ADAPTERS_DIR) -> list[Path]:
    """Venue folders with a manifest, by name; ``_template`` and other ``_`` folders are not venues."""
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")) and (p / "__init__.py").is_file())


def read(folder: Path) -> Manifest:
    g = runpy.run_path(str(folder / "__init__.py"))
    missing = [f for f in FIELDS if f not in g]
    if missing:
        raise ImportError(f"adapters/{folder.name}/__init__.py: the venue manifest lacks {', '.join(missing)}")
    return Manifest(str(g["VENUE"]), str(g["ADAPTER"]), str(g["SIMULATOR"] or ""),
                    tuple(dict(e) for e in g["EXTENSIONS"]), folder, bool(g.get("ORDERS", True)))


def manifests(root: Path = ADAPTERS_DIR) -> list[Manifest]:
    return [read(f) for f in venue_folders(root)]
