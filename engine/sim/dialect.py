"""``SimDialect``: what a venue's simulator module states about itself, once, as data.

A simulator module (``adapters/<venue>/simulator.py``) exports one ``SIM = SimDialect(...)``:
its venue id, a title, its ``SimConfig`` subclass, its ``SimApp`` subclass, the command-line
options of its own and the keys its start-up report adds.  From that the engine derives what
every simulator needs and no venue writes again: the argument parser (``add_common_args`` +
``add_sim_args`` + the venue's options), the config from parsed arguments or from keyword
options (``running_simulator`` / ``in_process_simulator``), the URL report, the aiohttp
application and ``python -m`` entry point (``venuelink.sim.server.run_main``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable, Generic, Mapping, TypeVar

from aiohttp import web

from venuelink.sim.app import SimApp, SimConfig, add_sim_args, base_report, config_from_options
from venuelink.sim.server import SIMULATORS, add_common_args, run_main

C = TypeVar("C", bound=SimConfig)


@dataclass(frozen=True, slots=True)
class SimDialect(Generic[C]):
    """A venue simulator's command line, config, application and report, as data."""

    venue: str
    """venue id, as in the manifest (``venuelink.registry.available()``)"""
    title: str
    """one line for ``--help`` (e.g. "OKX v5 simulator")"""
    config: type[C]
    """the venue's ``SimConfig`` subclass: its defaults are the options' defaults"""
    app: Callable[[C], SimApp]
    """builds the venue's ``SimApp`` from a config (usually the ``SimApp`` subclass itself)"""
    extra_args: Callable[[argparse.ArgumentParser, C], None] | None = None
    """adds the venue's own options to the parser; the second argument holds the defaults"""
    report_extra: Callable[[str, int, C], Mapping[str, Any]] | None = None
    """keys the start-up report adds to (or replaces in) ``base_report`` for ``host``, ``port``"""

    @property
    def prog(self) -> str:
        return "python -m " + SIMULATORS.get(self.venue, f"adapters.{self.venue}.simulator")

    def arg_parser(self) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(prog=self.prog, description=self.title)
        add_common_args(p)
        add_sim_args(p, self.config)
        if self.extra_args is not None:
            self.extra_args(p, self.config())
        return p

    def config_from_args(self, ns: argparse.Namespace) -> C:
        return self.config.from_namespace(ns)  # type: ignore[return-value]

    def config_from_options(self, **opts: Any) -> C:
        """Keyword options as ``running_simulator`` takes them (CLI names with underscores)."""
        return config_from_options(self.arg_parser(), self.config, self.venue, **opts)

    def report(self, host: str, port: int, config: C) -> dict[str, Any]:
        """The URL report a started simulator prints (without ``venue`` and ``pid``)."""
        out = base_report(host, port, config)
        if self.report_extra is not None:
            out.update(self.report_extra(host, port, config))
        return out

    def create_app(self, config: C | None = None) -> web.Application:
        return self.app(config if config is not None else self.config()).create_app()

    def main(self, argv: list[str] | None = None) -> None:
        """``python -m <simulator module>``: serve until SIGTERM / SIGINT."""
        run_main(self, argv)
