# SPDX-License-Identifier: Apache-2.0
"""``venuelink sim``: the built-in venue simulators on 127.0.0.1, with a ready config for them.

Every other command can then be tried as written against the simulators::

    venuelink sim --config-out /tmp/vl-sim.toml &
    venuelink order place --config /tmp/vl-sim.toml --venue binance --symbol BTC/USDT ...

The config names a mode-0600 secrets file per venue (the simulator's own generated keys), so no
environment variable has to be set. The config file appears (atomically: written beside, then
renamed) only once every simulator answers, so a script may wait for it to exist. The files are
removed when the simulators stop (Ctrl-C, SIGTERM or ``--duration``).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def _toml_str(s: str) -> str:
    return json.dumps(s)                # a JSON string of printable ASCII is a valid TOML basic string


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def sim_config_text(venue: str, sim: Any, secrets: Path, symbols: list[str]) -> str:
    lines = [f"[venues.{venue}]", f"rest_url = {_toml_str(sim.rest_url)}", f"ws_url = {_toml_str(sim.ws_url)}"]
    if sim.info.get("ws_api_url"):
        lines.append(f"ws_api_url = {_toml_str(sim['ws_api_url'])}")
    lines.append(f"secrets_file = {_toml_str(str(secrets))}")
    lines.append("symbols = [" + ", ".join(_toml_str(s) for s in symbols) + "]")
    return "\n".join(lines) + "\n"


def secrets_text(sim: Any) -> str:
    out = [f"api_key = {_toml_str(sim['api_key'])}", f"api_secret = {_toml_str(sim['api_secret'])}"]
    if sim.info.get("api_passphrase"):
        out.append(f"api_passphrase = {_toml_str(sim['api_passphrase'])}")
    return "\n".join(out) + "\n"


def _cmd_sim(args: argparse.Namespace) -> int:
    from venuelink.tools.simconfig import first_symbols
    from venuelink.sim.server import SIMULATORS, running_simulator
    names = args.venues or list(SIMULATORS)
    bad = [v for v in names if v not in SIMULATORS]
    if bad:
        print(f"venuelink sim: error: no built-in simulator for {', '.join(bad)}; available: "
              f"{', '.join(SIMULATORS)}", file=sys.stderr)
        return 2
    out = Path(args.config_out).resolve()
    if not out.parent.is_dir():
        print(f"venuelink sim: error: directory {out.parent} does not exist (for --config-out)", file=sys.stderr)
        return 2
    # a config left by a simulator that was killed outright names ports nobody serves now: gone
    # before anything starts, so whoever waits for the file waits for this run's
    with contextlib.suppress(FileNotFoundError):
        out.unlink()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    written: list[Path] = []
    with contextlib.ExitStack() as stack:
        parts = []
        for v in names:
            sim = stack.enter_context(running_simulator(v, rate=args.rate))
            secrets = out.with_name(f"{out.stem}.{v}.secrets.toml")
            _write_private(secrets, secrets_text(sim))
            written.append(secrets)
            parts.append(sim_config_text(v, sim, secrets, first_symbols(v, sim.rest_url, 3)))
        _write_private(out, "# the built-in simulators (venuelink sim); removed when they stop\n\n"
                       + "\n".join(parts))
        written.append(out)
        print(f"venuelink sim: {', '.join(names)} on 127.0.0.1; config: {out}", flush=True)
        print(f"  try: venuelink run --config {out} --duration 10", flush=True)
        try:
            stop.wait(args.duration or None)
        finally:
            for p in written:
                with contextlib.suppress(OSError):
                    p.unlink()
    return 0


def add_parser(sub) -> None:
    from venuelink.tools.run import _rate, _seconds
    s = sub.add_parser("sim", help="serve the built-in venue simulators and write a ready config for --config",
                       description="Start the built-in venue simulators on 127.0.0.1 (each in its own "
                                   "process) and write a config file (with a mode-0600 secrets file per "
                                   "venue) that `run`, `order` and a strategy can use as --config. Runs "
                                   "until Ctrl-C, SIGTERM or --duration; the files are removed then.")
    s.add_argument("--venues", nargs="+", help="venue ids (default: every venue with a simulator)")
    s.add_argument("--config-out", default="venuelink-sim.toml",
                   help="where to write the config (default ./venuelink-sim.toml; it appears once every "
                        "simulator answers)")
    s.add_argument("--rate", type=_rate, default=20, help="market rate, batches per second (default 20)")
    s.add_argument("--duration", type=_seconds, default=0, help="stop after S seconds (default 0: until Ctrl-C)")
    s.set_defaults(func=_cmd_sim)
