# SPDX-License-Identifier: Apache-2.0
"""Starts a venue's CCXT worker process, reads the URLs it reports, and starts it again whenever
it exits (with backoff, on the same port where that is still free). The worker exits with its
parent, so an engine that dies takes its workers with it.

Credentials (for order entry) go to each worker it starts as one JSON line on the worker's
stdin, written once and closed; they never appear on its command line."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from typing import Callable

from venuelink.config import Credentials
from venuelink.errors import EngineError

log = logging.getLogger("venuelink.ccxt_tier")
RESTART_MIN_S, RESTART_MAX_S = 0.2, 10.0
STABLE_S = 30.0          # a worker that lived this long restarts without backoff


class WorkerFailed(EngineError):
    """The worker did not start (or did not report its URLs in time)."""


STOP_GRACE_S = 1.5          # SIGTERM, then this long to exit, then SIGKILL


class WorkerSupervisor:
    def __init__(self, name: str, spec: dict, *, start_timeout_s: float = 60.0,
                 on_restart: Callable[[dict], None] | None = None, credentials: Credentials | None = None) -> None:
        self.name, self.spec = name, dict(spec)
        self._credentials = credentials
        if credentials is not None:
            self.spec["credentials"] = "stdin"
        self.start_timeout_s = start_timeout_s
        self.on_restart = on_restart
        self.proc: asyncio.subprocess.Process | None = None
        self.report: dict = {}
        self.starts = 0
        self.exits = 0
        self._task: asyncio.Task | None = None
        self._closing = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    async def start(self) -> dict:
        """Start the worker and wait for its report; then keep it running."""
        self.report = await self._spawn()
        self._task = asyncio.get_running_loop().create_task(self._supervise())
        return self.report

    async def _spawn(self) -> dict:
        if self.report:
            self.spec["port"] = self.report["port"]        # keep the URLs the engine already uses
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "venuelink.ccxt_tier.worker", "--spec", json.dumps(self.spec),
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.PIPE if self._credentials is not None else asyncio.subprocess.DEVNULL)
        self.starts += 1
        try:
            if self._credentials is not None:
                await self._hand_credentials()
            line = await asyncio.wait_for(self.proc.stdout.readline(), self.start_timeout_s)
            report = json.loads(line)
            if not isinstance(report, dict) or "ws_url" not in report:
                raise ValueError(f"unexpected report {line[:200]!r}")
        except (asyncio.TimeoutError, ValueError, ConnectionError) as e:
            await self._stop_proc()
            raise WorkerFailed(f"{self.name}: the CCXT worker did not report its URLs "
                               f"({type(e).__name__}: {e}); its log is on stderr") from None
        log.info("%s: CCXT worker pid %d serving %s", self.name, self.proc.pid, report["ws_url"])
        return report

    async def _hand_credentials(self) -> None:
        c = self._credentials
        line = json.dumps({"apiKey": c.api_key.reveal(), "secret": c.api_secret.reveal(),
                           "password": c.passphrase.reveal() if c.passphrase else ""}).encode() + b"\n"
        stdin = self.proc.stdin
        try:
            stdin.write(line)
            await stdin.drain()
        finally:
            del line
            stdin.close()

    def __repr__(self) -> str:
        return f"WorkerSupervisor({self.name!r}, pid={self.pid}, credentials={'***' if self._credentials else None})"

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RESTART_MIN_S
        while not self._closing:
            started = loop.time()
            rc = await self.proc.wait()
            self.exits += 1
            if self._closing:
                return
            if loop.time() - started > STABLE_S:
                delay = RESTART_MIN_S
            log.warning("%s: CCXT worker pid %d exited (%s); starting it again in %.1fs",
                        self.name, self.proc.pid, rc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX_S)
            try:
                report = await self._spawn()
            except (WorkerFailed, OSError) as e:
                log.error("%s: %s", self.name, e)
                continue
            changed = report["ws_url"] != self.report.get("ws_url")
            self.report = report
            if changed and self.on_restart is not None:
                self.on_restart(report)

    async def _stop_proc(self) -> None:
        p = self.proc
        if p is None or p.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            p.terminate()
        try:
            # within the engine's bound on an adapter's close (2 s): a worker slow to exit is killed
            await asyncio.wait_for(p.wait(), STOP_GRACE_S)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            await p.wait()
        except asyncio.CancelledError:      # the close itself was given up on: never leave it running
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            raise

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._stop_proc()
