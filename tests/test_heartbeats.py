# SPDX-License-Identifier: Apache-2.0
"""Heartbeats, one suite for every registered venue: on each market-data endpoint whose spec
declares an application-level ping, the venue's own simulator answers the spec's ping frame, and
the adapter's parser (C and twin alike) reads that answer as a pong, never as data or an error.
A pong the parser misread would leave a live connection judged silent, or count a bad frame on
every ping. A venue adds nothing here: its spec and its simulator are what is checked."""
from __future__ import annotations

import aiohttp
import pytest

from venuelink import registry
from venuelink.sim.server import in_process_simulator
from venuelink.ext.feed import Control

VENUES = registry.available()


class _Controls:
    def __init__(self) -> None:
        self.kinds: list[int] = []
        self.errors: list[str] = []

    def on_control(self, kind, topic, req_id, raw):
        self.kinds.append(kind)

    def on_error(self, *a):
        self.errors.append(repr(a))

    def __getattr__(self, name):                     # book, trade and other events: not expected here
        return lambda *a, **k: self.errors.append(name)


def _pinging(venue: str) -> list:
    return [e for e in registry.create(venue).spec.endpoints if e.ping is not None]


@pytest.mark.parametrize("venue", VENUES)
async def test_every_endpoints_ping_is_answered_with_what_the_parser_reads_as_a_pong(venue: str) -> None:
    endpoints = _pinging(venue)
    if not endpoints:
        assert registry.create(venue).spec.endpoints[0].server_ping_s > 0, \
            f"{venue}: no application ping and no server ping: nothing keeps its connections alive"
        return
    async with in_process_simulator(venue, rate=0) as sim:
        a = registry.create(venue)                       # a pong names no instrument: none loaded
        a.config.ws_url = sim.ws_url
        async with aiohttp.ClientSession() as s:
            for ep in endpoints:
                async with s.ws_connect(a.endpoint_url(ep)) as ws:
                    await ws.send_str(ep.ping.frame)
                    reply = await ws.receive(timeout=5)
                assert reply.type == aiohttp.WSMsgType.TEXT, (venue, ep.name, reply)
                for reference in (False, True):
                    sink = _Controls()
                    parser = a.make_reference_parser(sink) if reference else a.make_parser(sink)
                    parser.feed(reply.data.encode())
                    assert sink.kinds == [Control.CTRL_PONG] and not sink.errors, \
                        (venue, ep.name, "twin" if reference else "C", reply.data, sink.kinds, sink.errors)
