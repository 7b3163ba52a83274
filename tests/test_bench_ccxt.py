# SPDX-License-Identifier: Apache-2.0
"""bench/bench_ccxt.py in its reduced mode (--quick): both tables come out, with the native and
the CCXT-tier rows and positive timings."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIME = r"([\d.]+) (ns|us|ms)"


def test_bench_ccxt_quick_prints_both_rows():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_ccxt.py"), "--quick"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    for table, rows in (("per book update", ("native", "ccxt tier", "ccxt alone")),
                        ("per order round trip", ("native", "ccxt tier"))):
        part = out[out.index(f"| {table}"):]
        for name in rows:
            m = re.search(rf"^\| {re.escape(name)}[^|]*\| {TIME} \|", part, re.M)
            assert m, f"{table}: no row {name!r} in\n{out}"
            assert float(m.group(1)) > 0
