"""deploy/: the install script staged into a folder, the example configs, the service logging and
the example strategy program against the simulators."""
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from venuelink.config import load_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _install(root: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(DEPLOY / "install.sh"), "--root", str(root), "--no-build", *extra],
                          capture_output=True, text=True, timeout=120, env=env)


# Commands that change the host. In the tests they come first on PATH as shims that only note their
# call in a log and fail, so a script that wrongly reached for them stops there and the test sees it.
HOST_COMMANDS = ("useradd", "groupadd", "chown", "systemctl", "make", "install", "tar", "cp", "sed")


def _shimmed_env(tmp: Path, *, euid: int | None = None, shim: tuple[str, ...] = HOST_COMMANDS) -> tuple[dict, Path]:
    bin_ = tmp / "shims"
    bin_.mkdir()
    log = tmp / "host-calls.log"
    for name in shim:
        (bin_ / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit 97\n')
        (bin_ / name).chmod(0o755)
    if euid is not None:      # `id -u` answers this uid; every other use of id is the real one
        (bin_ / "id").write_text(f'#!/bin/sh\nif [ "$1" = "-u" ]; then echo {euid}; else exec /usr/bin/id "$@"; fi\n')
        (bin_ / "id").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"}, log


def _unit(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), v.strip())
    return out


def test_install_script_creates_every_path_the_units_name_and_keeps_what_exists(tmp_path):
    r = _install(tmp_path)
    assert r.returncode == 0, r.stderr
    etc = tmp_path / "etc/venuelink"
    creds = etc / "credentials.env"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert stat.S_IMODE(etc.stat().st_mode) == 0o750
    assert (tmp_path / "opt/venuelink/setup.py").is_file() and (tmp_path / "opt/venuelink/Makefile").is_file()
    assert not (tmp_path / "opt/venuelink/.venv").exists()          # only committed files are copied
    load_config(etc / "venuelink.toml")
    for name in ("venuelink.service", "venuelink-strategy@.service"):
        u = _unit(tmp_path / "etc/systemd/system" / name)
        assert (tmp_path / u["WorkingDirectory"].lstrip("/")).is_dir(), name
        assert (tmp_path / u["EnvironmentFile"].lstrip("/")) == creds, name
        argv = u["ExecStart"].split()
        assert argv[0].startswith("/opt/venuelink/.venv/bin/"), argv     # what `make build` creates there
        cfg = next(a for a in argv if a.endswith(".toml"))
        assert (tmp_path / cfg.lstrip("/")).is_file(), name
        assert u["User"] == "venuelink" and u["NoNewPrivileges"] == "true"
    ex = _unit(tmp_path / "etc/systemd/system/venuelink-strategy@.service")["ExecStart"].split()[1]
    assert (tmp_path / ex.replace("%i", "example").lstrip("/")).is_file()
    assert "--journal" in _unit(tmp_path / "etc/systemd/system/venuelink.service")["ExecStart"]
    # run again (an upgrade): the operator's edits stay
    (etc / "venuelink.toml").write_text("# edited\n[venues.binance]\nrest_url = \"https://api.binance.com\"\n"
                                        "ws_url = \"wss://stream.binance.com:9443\"\n")
    creds.write_text("BINANCE_API_KEY=k\n")
    r = _install(tmp_path, "--prefix", "/srv/vl")
    assert r.returncode == 0, r.stderr
    assert (etc / "venuelink.toml").read_text().startswith("# edited") and creds.read_text() == "BINANCE_API_KEY=k\n"
    assert "/srv/vl/.venv/bin/venuelink" in (tmp_path / "etc/systemd/system/venuelink.service").read_text()
    bad = _install(tmp_path, "--frobnicate")
    assert bad.returncode == 2 and "unknown option --frobnicate" in bad.stderr


def test_install_into_the_host_is_refused_without_root_whoever_runs_the_test(tmp_path):
    # as a user (uid 1000, injected): refused before anything is done; every host-changing command is
    # a failing shim, so even a wrong answer here could not install anything
    env, log = _shimmed_env(tmp_path, euid=1000)
    r = subprocess.run(["bash", str(DEPLOY / "install.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "needs root" in r.stderr, r.stderr
    assert not log.exists(), log.read_text()
    r = subprocess.run(["bash", str(DEPLOY / "install.sh"), "--root", "/"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 2 and "not a staging folder" in r.stderr, r.stderr
    assert not log.exists(), log.read_text()


@pytest.mark.parametrize("euid", [0, 1000])
def test_a_staged_install_never_creates_users_chowns_or_calls_systemd(tmp_path, euid):
    # as root too (CI runs as root): --root without --no-user / --no-systemd touches only the folder
    env, log = _shimmed_env(tmp_path, euid=euid, shim=("useradd", "groupadd", "chown", "systemctl", "make"))
    stage = tmp_path / "stage"
    r = _install(stage, "--user", "vl-test-nobody", env=env)
    assert r.returncode == 0, r.stderr
    assert not log.exists(), log.read_text()
    assert (stage / "etc/venuelink/venuelink.toml").is_file()
    assert (stage / "etc/systemd/system/venuelink.service").is_file()
    assert "User=vl-test-nobody" in (stage / "etc/systemd/system/venuelink.service").read_text()


def test_example_configs_load_and_credentials_example_names_every_key_variable():
    prod = load_config(DEPLOY / "venuelink.toml")
    test = load_config(DEPLOY / "testnet.toml")
    from venuelink import registry
    assert set(prod.venues) == set(test.venues) == set(registry.available())    # every native venue
    assert prod.metrics_host == test.metrics_host == "127.0.0.1"
    names = {n for vc in prod.venues.values() for n in (vc.api_key_env, vc.api_secret_env, vc.api_passphrase_env) if n}
    example = {line.split("=")[0] for line in (DEPLOY / "credentials.env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert names == example
    # the testnet config never points at production hosts, except OKX's REST host with its demo flag
    assert "testnet" in test.venues["binance"].rest_url and "testnet" in test.venues["binance"].ws_url
    usdm = test.venues["binanceusdm"]
    assert all(".binance.com" not in u or "demo-" in u
               for u in (usdm.rest_url, usdm.ws_url, usdm.ws_api_url, *usdm.endpoints.values()))
    assert "binancefuture" in usdm.endpoints["ws_api"]     # orders never fall back to production's socket
    assert test.venues["okx"].demo and "wspap" in test.venues["okx"].ws_url and "wspap" in test.venues["okx"].ws_api_url
    assert all(vc.credentials() is None for vc in test.venues.values())   # market data runs without keys


def test_journal_logs_state_changes_and_a_status_line_per_interval():
    p = subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "run", "--venues", "binance", "--journal",
                        "--status-interval", "2", "--duration", "5", "--metrics-port", "0"],
                       capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert re.search(r"^binance book BTC/USDT: - -> (SYNCING|LIVE)", out, re.M), out
    assert re.search(r"^binance book BTC/USDT: LIVE -> STALE", out, re.M), out      # at the stop
    status = re.findall(r"^binance status: conn=(\w+) books live (\d)/(\d) msgs/s=[\d.]+", out, re.M)
    assert 2 <= len(status) <= 4, out                                 # ~every 2 s of 5, and one at the stop
    assert status[0][0] == "connected" and status[-1][0] == "closed"
    assert "venuelink  " not in out and "\x1b[" not in out            # no view, no screen control
    assert re.search(r"^venuelink: ran \d", out, re.M)


def test_example_strategy_runs_against_the_simulators_and_stops_on_sigterm(tmp_path):
    cfg = tmp_path / "sim.toml"
    sim = subprocess.Popen([sys.executable, "-m", "venuelink.tools.cli", "sim", "--venues", "binance", "okx",
                            "--config-out", str(cfg), "--duration", "90"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (cfg.exists() and cfg.stat().st_size):
            assert sim.poll() is None and time.monotonic() < deadline, sim.stderr.read() if sim.poll() else "timeout"
            time.sleep(0.2)
        p = subprocess.Popen([sys.executable, str(DEPLOY / "strategy_example.py"), str(cfg), "--report-s", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        lines = []
        deadline = time.monotonic() + 60
        for line in p.stderr:
            lines.append(line)
            if "spread" in line:
                break
            assert time.monotonic() < deadline, "".join(lines)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
        text = "".join(lines) + err
        assert p.returncode == 0, text
        assert re.search(r"binance BTC/USDT book LIVE", text), text
        assert re.search(r"(binance|okx) \S+ bid \d+\.?\d* ask \d+\.?\d* spread \d", text), text
        assert "stopping" in text and "stopped" in text and "Traceback" not in text
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=30)


def test_demo_must_be_a_boolean(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[venues.binance]\nrest_url = "http://127.0.0.1:9"\nws_url = "ws://127.0.0.1:9"\ndemo = "yes"\n')
    with pytest.raises(Exception, match="demo must be true or false"):
        load_config(cfg)
