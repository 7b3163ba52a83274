# SPDX-License-Identifier: Apache-2.0
"""<Venue> adapter skeleton: fill in every NotImplementedError (see README.md beside this file).
Its frames are wire.py's schema: no parser code (make_parser and make_reference_parser come from
`wire`)."""
from __future__ import annotations

from typing import Any

from venuelink.adapter import Channel, VenueAdapter
from venuelink.model import Instrument, VenueId
from venuelink.venue import VenueSpec, WsEndpoint
from venuelink.ext.checksum import Checksum

from venuelink.adapters._template.wire import WIRE


class TemplateAdapter(VenueAdapter):
    venue: VenueId                      # e.g. VenueId.okx
    spec: VenueSpec                     # from spec.py: endpoints, book, buckets, trade ids
    wire = WIRE                         # from wire.py: the frames as data
    instruments_path = "/path/of/the/instruments/endpoint"

    def parse_instruments(self, body: bytes | dict) -> list[Instrument]:
        raise NotImplementedError

    def endpoint_for(self, inst: Instrument) -> str:
        return self.spec.endpoints[0].name      # e.g. "linear" for perpetuals

    def topics(self, inst: Instrument, channels: tuple[Channel, ...]) -> list[str]:
        raise NotImplementedError

    def subscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        raise NotImplementedError

    def unsubscribe_frames(self, ep: WsEndpoint, topics: list[str], req_id: int) -> list[str]:
        raise NotImplementedError

    def checksum_for(self, inst: Instrument) -> Checksum | None:
        return None                             # venues with spec.book.checksum return one

    def rest_cost(self, method: str, path: str, params: dict[str, str] | None = None, order: Any = None):
        raise NotImplementedError

    def map_error(self, resp):
        raise NotImplementedError

    def classify_response(self, resp):
        return None                             # errors inside HTTP 200 bodies

    def make_execution(self, rest, creds, config):
        raise NotImplementedError
