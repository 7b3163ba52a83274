"""The instruction-count gate runs with the tests: a hot-path regression of more than 10 % in
instructions (deterministic, unlike time on a shared machine) fails the build."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_callgrind_instruction_counts_within_baseline():
    p = subprocess.run([sys.executable, "bench/callgrind_gate.py"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count(" ok ") >= 5 or p.stdout.count("ok  ") >= 5, p.stdout
