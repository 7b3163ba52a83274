"""The instruction-count gate runs with the tests: a hot-path regression of more than 10 % in
instructions (deterministic, unlike time on a shared machine) fails the build."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _gate():
    spec = importlib.util.spec_from_file_location("callgrind_gate", ROOT / "bench" / "callgrind_gate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_callgrind_instruction_counts_within_baseline():
    # one valgrind process, instrumented only around the measured calls: a few seconds, not minutes
    p = subprocess.run([sys.executable, "bench/callgrind_gate.py"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count(" ok ") >= 5 or p.stdout.count("ok  ") >= 5, p.stdout


def test_gate_flags_a_regression_a_stale_baseline_and_a_venue_ratio():
    """The comparison on its own (no valgrind): every count at its baseline passes; one count 11 %
    above fails as REGRESSION, 11 % below as STALE, and a venue's per-frame count beyond its ratio
    to Binance's as TOO SLOW even when its baseline moved with it."""
    gate = _gate()
    base = json.loads((ROOT / "bench" / "baselines" / "callgrind.json").read_text())
    names = [n for funcs in gate.FUNCS.values() for n in funcs.values()]
    assert sorted(base) == sorted(names), "the baseline names every gated function"
    assert gate.compare(dict(base), base)[1] == 0

    okx = next(n for n in names if n.startswith("okx books frame -> checked"))
    lines, bad = gate.compare({**base, okx: int(base[okx] * 1.11)}, base)
    assert bad >= 1 and any(line.lstrip().startswith("REGRESSION") and okx in line for line in lines), lines
    lines, bad = gate.compare({**base, okx: int(base[okx] * 0.89)}, base)
    assert bad == 1 and any(line.lstrip().startswith("STALE") and okx in line for line in lines), lines

    binance = next(n for n in names if n.startswith("binance depth frame"))
    slow = int(base[binance] / 255 * 256 * 1.6)           # x1.6 Binance's per-frame count; the limit is x1.55
    lines, bad = gate.compare({**base, okx: slow}, {**base, okx: slow})
    assert bad == 1 and any(line.lstrip().startswith("TOO SLOW") for line in lines), lines


def test_gate_flags_growth_beyond_a_scaling_ratio():
    """A scaling case whose count per unit grows beyond its ratio to the smaller case fails as TOO
    SLOW, even with a baseline that moved with it: growth is guarded, not just the constant."""
    gate = _gate()
    base = json.loads((ROOT / "bench" / "baselines" / "callgrind.json").read_text())
    lines, bad = gate.compare(dict(base), base)
    assert bad == 0 and sum("depth-spread-5000 / depth-spread-20" in line for line in lines) == 1, lines
    for a, b, limit in gate.SCALE_RATIOS:
        assert gate.per_unit(base, a) / gate.per_unit(base, b) <= limit, (a, b)
    name = gate.SCALING["depth-spread-5000"][1]
    grown = {**base, name: int(base[name] * 1.15)}           # its ratio to depth 20: x1.15 the measured
    lines, bad = gate.compare(grown, grown)
    assert bad == 1 and any(line.lstrip().startswith("TOO SLOW") and "depth-spread-5000" in line
                            for line in lines), lines
