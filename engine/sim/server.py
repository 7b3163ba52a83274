"""Run a venue simulator: as its own process (default) or inside the current event loop.

Start/URL-report contract
-------------------------
``python -m <dialect module> --host 127.0.0.1 --port 0 [options]`` binds, then prints exactly
one JSON line on stdout and nothing else afterwards::

    {"venue": "binance", "host": "127.0.0.1", "port": 41234, "pid": 4242,
     "rest_url": "http://127.0.0.1:41234", "ws_url": "ws://127.0.0.1:41234",
     "admin_url": "http://127.0.0.1:41234/__sim", ...dialect extras...}

It runs until SIGTERM/SIGINT (or, with ``--exit-with-parent``, until its parent dies).

Dialect module contract (see ``SIMULATORS``): the module exports ``SIM``, an
``venuelink.sim.dialect.SimDialect`` (venue, title, config class, app class, its own options, its
report's extra keys), and ends with ``if __name__ == "__main__": SIM.main()``.  The parser,
configs, report and application below all come from it.

Usage::

    with running_simulator("binance", rate=100, seed=7) as sim:
        sim.rest_url, sim.ws_url, sim["admin_url"]

    async with in_process_simulator("binance", rate=100) as sim:
        sim.sim_venue.markets["BTCUSDT"]  # direct access to the authoritative state
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, Protocol

if TYPE_CHECKING:
    from aiohttp import web


class Dialect(Protocol):
    """What this module uses of a venue's ``SimDialect`` (venuelink.sim.dialect, which builds on
    this module's command-line side)."""
    venue: str

    def arg_parser(self) -> argparse.ArgumentParser: ...

    def config_from_args(self, ns: argparse.Namespace) -> Any: ...

    def config_from_options(self, **opts: Any) -> Any: ...

    def report(self, host: str, port: int, config: Any) -> dict[str, Any]: ...

    def create_app(self, config: Any = None) -> web.Application: ...


def _simulators() -> dict[str, str]:
    """venue -> its simulator dialect module, from the venues' manifests (adapters/<venue>/)."""
    from venuelink.manifests import manifests
    return {m.venue: m.simulator for m in manifests() if m.simulator}


SIMULATORS: dict[str, str] = _simulators()

ROOT = Path(__file__).resolve().parents[2]


class SimulatorError(RuntimeError):
    pass


def _dialect(venue: str) -> Dialect:
    """``venue``'s ``SimDialect``: its simulator module's ``SIM``."""
    try:
        name = SIMULATORS[venue]
    except KeyError:
        raise SimulatorError(f"no simulator for venue {venue!r}; known: {sorted(SIMULATORS)}") from None
    return importlib.import_module(name).SIM


# ---------------------------------------------------------------------- CLI side (child)
def add_common_args(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--rate", type=float, default=50.0, help="market change batches per second per symbol")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--levels", type=int, default=300, help="book levels per side")
    p.add_argument("--ping-interval", type=float, default=20.0, help="server ping frame period (s)")
    p.add_argument("--pong-timeout", type=float, default=60.0, help="disconnect when no pong within (s)")
    p.add_argument("--max-conn-age", type=float, default=86400.0, help="WS connection lifetime (s)")
    p.add_argument("--max-inbound-per-s", type=int, default=5, help="WS inbound message cap (0 = off)")
    p.add_argument("--ban-after", type=int, default=5, help="429 answers before the next limited request is banned (418)")
    p.add_argument("--ban-base", type=float, default=120.0, help="first ban duration (s), doubles per repeat")
    p.add_argument("--exit-with-parent", action="store_true", help="exit when the parent process dies")
    p.add_argument("--log-level", default="WARNING")
    return p


async def _serve(sim: Dialect, config, host: str, port: int, exit_with_parent: bool) -> None:
    from aiohttp import web

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()

    app = sim.create_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1]
    info = {"venue": sim.venue, **sim.report(host, bound, config), "pid": os.getpid()}
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    # nothing else may go to stdout: the parent reads exactly one line
    sys.stdout = sys.stderr

    async def watch_parent() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.5)
            if os.getppid() != parent:
                stop.set()

    watcher = loop.create_task(watch_parent()) if exit_with_parent else None
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        try:
            await asyncio.wait_for(runner.cleanup(), 5.0)
        except asyncio.TimeoutError:
            pass


def run_main(sim: Dialect, argv: list[str] | None = None) -> None:
    """Entry point body for ``python -m <dialect module>`` (``SIM.main()``)."""
    import logging

    args = sim.arg_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.WARNING), stream=sys.stderr)
    config = sim.config_from_args(args)
    try:
        import uvloop  # type: ignore

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    runner(_serve(sim, config, args.host, args.port, args.exit_with_parent))


# ---------------------------------------------------------------------- parent side
class RunningSim:
    """URL report of a running simulator; ``sim.rest_url`` or ``sim["rest_url"]``."""

    def __init__(self, info: dict[str, Any], proc: subprocess.Popen | None = None, app: Any = None) -> None:
        self.info = info
        self.proc = proc
        self.app = app

    def __getitem__(self, key: str) -> Any:
        return self.info[key]

    def __getattr__(self, key: str) -> Any:
        try:
            return self.info[key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def sim_venue(self):
        """The ``SimVenue`` object (in-process runs only)."""
        if self.app is None:
            return None
        from venuelink.sim.core import SIM_VENUE_KEY

        return self.app[SIM_VENUE_KEY]

    @property
    def sim_app(self):
        """The venue dialect's ``SimApp`` object (in-process runs only)."""
        if self.app is None:
            return None
        from venuelink.sim.app import SIM_APP_KEY

        return self.app[SIM_APP_KEY]

    def __repr__(self) -> str:
        return f"RunningSim({self.info!r})"


def options_to_argv(opts: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for k, v in opts.items():
        if v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        if v is True:
            argv.append(flag)
        elif isinstance(v, (list, tuple)):
            argv += [flag, ",".join(str(x) for x in v)]
        else:
            argv += [flag, str(v)]
    return argv


_CREDENTIAL_NAME = re.compile(r"(KEY|SECRET|PASSPHRASE|PASSWORD|TOKEN|CREDENTIAL)", re.IGNORECASE)


def _scrubbed_env() -> dict[str, str]:
    """The simulator's environment: the operator's, without anything that may be a credential
    (it needs none; its own keys come as options)."""
    return {k: v for k, v in os.environ.items() if not _CREDENTIAL_NAME.search(k)}


def start_simulator(venue: str, *, startup_timeout: float = 20.0, **opts: Any) -> RunningSim:
    """Start ``venue``'s simulator in a child process and wait for its URL report."""
    module = SIMULATORS.get(venue)
    if module is None:
        raise SimulatorError(f"no simulator for venue {venue!r}; known: {sorted(SIMULATORS)}")
    opts = {"host": "127.0.0.1", "port": 0, **opts}
    cmd = [sys.executable, "-m", module, "--exit-with-parent", *options_to_argv(opts)]
    env = _scrubbed_env()
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL, cwd=str(ROOT), env=env)
    line = b""
    deadline = time.monotonic() + startup_timeout
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SimulatorError(f"{venue} simulator did not report its URLs within {startup_timeout}s")
            r, _, _ = select.select([fd], [], [], min(left, 0.2))
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                line += chunk
            elif proc.poll() is not None:
                break
        try:
            info = json.loads(line.decode())
        except (ValueError, UnicodeDecodeError):
            info = None
        if not isinstance(info, dict) or "rest_url" not in info:
            raise SimulatorError(f"{venue} simulator failed to start (exit={proc.poll()}): {_tail(errf)}")
    except BaseException:
        stop_simulator(proc)
        errf.close()
        raise
    errf.close()
    return RunningSim(info, proc)


def _tail(f, n: int = 4000) -> str:
    try:
        f.seek(0)
        return f.read()[-n:].decode("utf-8", "replace")
    except OSError:
        return ""


def stop_simulator(proc: subprocess.Popen | RunningSim | None, timeout: float = 5.0) -> None:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL. Always reaps the child."""
    if isinstance(proc, RunningSim):
        proc = proc.proc
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2.0)
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()


@contextlib.contextmanager
def running_simulator(venue: str, **opts: Any) -> Iterator[RunningSim]:
    """Start a simulator process, yield its URL report, always terminate it."""
    sim = start_simulator(venue, **opts)
    try:
        yield sim
    finally:
        stop_simulator(sim)


@contextlib.asynccontextmanager
async def running_simulator_async(venue: str, **opts: Any) -> AsyncIterator[RunningSim]:
    """``running_simulator`` for async code (start/stop run in a worker thread)."""
    sim = await asyncio.to_thread(start_simulator, venue, **opts)
    try:
        yield sim
    finally:
        await asyncio.to_thread(stop_simulator, sim)


@contextlib.asynccontextmanager
async def in_process_simulator(venue: str, **opts: Any) -> AsyncIterator[RunningSim]:
    """Serve the simulator on 127.0.0.1 inside the running event loop (tests, benchmarks)."""
    from aiohttp import web

    sim = _dialect(venue)
    host = opts.pop("host", "127.0.0.1")
    port = int(opts.pop("port", 0))
    config = sim.config_from_options(**opts)
    app = sim.create_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        bound = runner.addresses[0][1]
        info = {"venue": sim.venue, **sim.report(host, bound, config), "pid": os.getpid()}
        yield RunningSim(info, None, app)
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """``python -m venuelink.sim.server <venue> [options]``: run a venue's simulator in the foreground."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SIMULATORS:
        sys.stderr.write(f"usage: python -m venuelink.sim.server {{{','.join(SIMULATORS)}}} [options]\n")
        raise SystemExit(2)
    run_main(_dialect(argv[0]), argv[1:])


if __name__ == "__main__":
    main()
