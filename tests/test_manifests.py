# SPDX-License-Identifier: Apache-2.0
"""A venue is its folder: its manifest (adapters/<venue>/__init__.py) names adapter, simulator and
extensions, and the registry, the simulator runner and setup.py take them from there."""
import importlib
import runpy
import sys
from pathlib import Path

import pytest

from venuelink import registry
from venuelink.manifests import ADAPTERS_DIR, manifests, venue_folders
from venuelink.model import VenueId
from venuelink.sim.server import SIMULATORS

ROOT = Path(__file__).resolve().parents[1]


def test_every_venue_folder_is_registered_from_its_manifest():
    ms = manifests()
    assert [m.venue for m in ms] == [f.name for f in venue_folders()] == sorted(registry.available())
    assert {"binance", "binanceusdm", "okx"} <= {m.venue for m in ms}     # a new venue adds its folder only
    for m in ms:
        assert registry.ADAPTERS[VenueId.parse(m.venue)] == m.adapter and SIMULATORS[m.venue] == m.simulator
        mod, cls = m.adapter.split(":")
        assert getattr(importlib.import_module(mod), cls)         # the names resolve
        importlib.import_module(m.simulator)
        for e in m.extensions:
            assert (ROOT / (e["name"].replace(".", "/") + ".pyx")).is_file()
            importlib.import_module(e["name"])                   # built from the manifest


def test_setup_builds_the_extensions_the_manifests_list(monkeypatch):
    import setuptools
    monkeypatch.setattr(setuptools, "setup", lambda **kw: None)
    monkeypatch.setattr(sys, "argv", ["setup.py", "--name"])
    monkeypatch.chdir(ROOT)
    names = [e.name for e in runpy.run_path(str(ROOT / "setup.py"))["EXTENSIONS"]]
    assert [n for n in names if n.startswith("adapters.")] == [e["name"] for m in manifests() for e in m.extensions]


def test_a_manifest_without_its_fields_is_refused(tmp_path):
    (tmp_path / "nofields").mkdir()
    (tmp_path / "nofields" / "__init__.py").write_text('VENUE = "nofields"\n')
    (tmp_path / "_template").mkdir()
    (tmp_path / "_template" / "__init__.py").write_text("")
    assert [f.name for f in venue_folders(tmp_path)] == ["nofields"]      # the template is not a venue
    with pytest.raises(ImportError, match="nofields/__init__.py: the venue manifest lacks ADAPTER, SIMULATOR, EXTENSIONS"):
        manifests(tmp_path)
    assert ADAPTERS_DIR == ROOT / "adapters"


def test_the_venues_are_found_installed_as_in_the_checkout(tmp_path):
    """Installed, the manifests module sits in venuelink/ with the venues in venuelink/adapters/;
    in the checkout engine/ and adapters/ stand side by side. Both layouts find the same venues."""
    import shutil
    import venuelink.manifests as m
    pkg = tmp_path / "venuelink"
    shutil.copytree(m.ADAPTERS_DIR, pkg / "adapters", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(m.__file__, pkg / "manifests.py")
    installed = runpy.run_path(str(pkg / "manifests.py"))
    assert Path(installed["ADAPTERS_DIR"]) == (pkg / "adapters").resolve()
    assert m.ADAPTERS_DIR == Path(m.__file__).resolve().parents[1] / "adapters"
    assert [f.name for f in installed["venue_folders"]()] == [f.name for f in m.venue_folders()] != []
