"""The installed package: one top-level name, ``venuelink``, whose public API a strategy imports
from it directly; nothing generic (``engine``, ``ext``, ``adapters``) put into site-packages where
a user's own module of that name would collide."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import venuelink


def test_the_distribution_installs_one_top_level_package():
    dist = importlib.metadata.distribution("venuelink")
    assert dist.read_text("top_level.txt").split() == ["venuelink"]
    assert [ep.value for ep in dist.entry_points if ep.name == "venuelink"] == ["venuelink.tools.cli:main"]


def test_outside_the_repository_only_venuelink_imports(tmp_path):
    """From another directory (as a user's process runs), the repository's folder names are not
    importable, the package and its extensions are, and the public API is whole."""
    code = (
        "import importlib.util as u, sys\n"
        "assert [n for n in ('engine', 'ext', 'adapters') if u.find_spec(n)] == [], 'generic names installed'\n"
        "import venuelink\n"
        "assert 'venuelink.engine' not in sys.modules, 'import venuelink loaded the engine'\n"
        "from venuelink import Engine, OrderRequest, Trade, BookNotLive, MarkPrice, load_config\n"
        "from venuelink.ext.book import L2Book\n"
        "missing = [n for n in venuelink.__all__ if getattr(venuelink, n, None) is None]\n"
        "assert not missing, missing\n"
        "print(len(venuelink.__all__))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(venuelink.__all__) >= 40


def test_public_names_are_the_modules_own_objects():
    from venuelink.engine import Engine
    from venuelink.ext.events import Trade
    from venuelink.model import OrderRequest
    assert venuelink.Engine is Engine and venuelink.Trade is Trade and venuelink.OrderRequest is OrderRequest
    try:
        venuelink.NoSuchThing  # noqa: B018
    except AttributeError as e:
        assert "NoSuchThing" in str(e)
    else:
        raise AssertionError("an unknown name resolved")
