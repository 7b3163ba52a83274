"""`venuelink soak` as CI runs it (`make test-slow`): two minutes over every registered venue, orders at twice the
venues' order-rate limits, random faults; its JSON report must show no violation."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from venuelink import registry

# volume: `make test-slow` (run by CI after `make test`), not `make test`
pytestmark = pytest.mark.slow


def test_two_minute_soak_over_every_venue(tmp_path: Path):
    report = tmp_path / "soak.json"
    p = subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "soak", "--minutes", "2", "--seed", "3",
                        "--report", str(report)], capture_output=True, text=True, timeout=400)
    assert report.exists(), p.stderr[-3000:]
    r = json.loads(report.read_text())
    assert p.returncode == (0 if r["ok"] else 1)
    assert r["ok"], json.dumps(r["violations"], indent=1)
    assert {v["venue"] for v in r["venues"]} == set(registry.trading())
    for v in r["venues"]:
        assert v["cycles"] >= 5 and sum(v["faults"].values()) == v["cycles"]
        assert v["attempt_rate_per_s"] == 2 * v["order_rate_limit_per_s"]
        assert v["placed"] > 0 and v["fills"] > 0 and v["trades"] > 0
    assert r["rss"]["end_mb"] - r["rss"]["after_warmup_mb"] <= r["rss_growth_bound_mb"]
    assert r["max_loop_stall_ms"] <= r["loop_stall_bound_ms"]


def test_a_violation_fails_the_soak(tmp_path: Path):
    # an impossible memory bound: the report names the violation and the exit status is 1
    report = tmp_path / "soak.json"
    p = subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "soak", "--minutes", "0.3", "--warmup", "1",
                        "--cycle", "1", "--max-rss-growth-mb", "-1", "--report", str(report)],
                       capture_output=True, text=True, timeout=200)
    r = json.loads(report.read_text())
    assert p.returncode == 1 and not r["ok"]
    assert any("resident memory" in v for v in r["violations"])
