"""The README is executable: every fenced block in it runs here, as written, against the simulators.

``sh`` blocks run in bash from the project root; ``python`` blocks run as programs (given the config
of a `venuelink sim`); ``toml`` blocks must load as configs; ``text`` blocks are not code. The first
block is the two set-up commands: ``make test`` is what runs this file, ``make run`` runs here.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from venuelink.config import load_config

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
LANGS = {"sh", "python", "toml", "text"}


def blocks() -> list[tuple[int, str, str]]:
    text = (ROOT / "README.md").read_text()
    return [(text[:m.start()].count("\n") + 1, m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def _env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


def test_every_block_is_one_this_file_runs():
    found = blocks()
    assert len(found) >= 6, found
    bad = [(line, lang) for line, lang, _ in found if lang not in LANGS]
    assert not bad, f"README blocks without a runnable language (sh, python, toml, or text for non-code): {bad}"
    # the README opens with exactly the two set-up commands
    line, lang, body = found[0]
    cmds = [ln.split("#")[0].strip() for ln in body.splitlines() if ln.strip()]
    assert (lang, cmds) == ("sh", ["make run", "make test"]), (line, body)


def test_make_run_as_the_readme_opens():
    r = subprocess.run(["make", "--no-print-directory", "run", "ARGS=--duration 3 --plain --metrics-port 0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=180, env=_env())
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert re.search(r"BTC/USDT\s+LIVE\s+bid\s+\d", r.stdout), r.stdout[-2000:]


SH = [(line, body) for line, lang, body in blocks()[1:] if lang == "sh"]


@pytest.mark.parametrize("line, body", SH, ids=[f"line{line}" for line, _ in SH])
def test_sh_block_runs_as_written(line, body):
    p = subprocess.Popen(["bash", "-e", "-c", body], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=_env(), start_new_session=True)
    try:
        out, err = p.communicate(timeout=240)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 0, f"README line {line}: exit {p.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    assert "Traceback" not in err and "error:" not in err, f"README line {line}:\n{err[-3000:]}"


PY = [(line, body) for line, lang, body in blocks() if lang == "python"]


@pytest.mark.parametrize("line, body", PY, ids=[f"line{line}" for line, _ in PY])
def test_python_block_is_a_program_that_runs(line, body, tmp_path):
    prog = tmp_path / "strategy.py"
    prog.write_text(body)
    cfg = tmp_path / "venuelink-sim.toml"
    sim = subprocess.Popen([sys.executable, "-m", "venuelink.tools.cli", "sim", "--venues", "binance", "--config-out",
                            str(cfg), "--duration", "120"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    try:
        deadline = time.monotonic() + 60
        while not cfg.exists() and time.monotonic() < deadline and sim.poll() is None:
            time.sleep(0.2)
        assert cfg.exists(), sim.stderr.read() if sim.poll() is not None else "no config within 60 s"
        r = subprocess.run([sys.executable, str(prog), str(cfg)], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120, env=_env())
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=30)
    assert r.returncode == 0, f"README line {line}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert re.search(r"^done: \S+ CANCELED$", r.stdout, re.M), r.stdout[-2000:]
    assert re.search(r"^trade binance BTC/USDT (BUY|SELL) \d", r.stdout, re.M), r.stdout[-2000:]
    assert not cfg.exists(), "venuelink sim left its config behind"


TOML = [(line, body) for line, lang, body in blocks() if lang == "toml"]


@pytest.mark.parametrize("line, body", TOML, ids=[f"line{line}" for line, _ in TOML])
def test_toml_block_is_a_config_the_engine_accepts(line, body, tmp_path):
    p = tmp_path / "venues.toml"
    p.write_text(body)
    cfg = load_config(p)
    assert cfg.venues, f"README line {line}: no venues"
