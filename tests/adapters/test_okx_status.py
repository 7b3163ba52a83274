"""OKX's system-status answer to the engine's venue status: ongoing trading maintenance stops
orders, scheduled events and WebSocket upgrades are announced, unrelated services are ignored,
and an answer that is not one is refused."""
import json

import pytest

from venuelink.adapters.okx.status import parse_status
from venuelink.status import StatusKind


def answer(*events, code="0") -> bytes:
    return json.dumps({"code": code, "msg": "", "data": list(events)}).encode()


def ev(state, svc="5", begin="1672823400000", end="1672823520000", title="Trading account system upgrade"):
    return {"begin": begin, "end": end, "href": "", "preOpenBegin": "", "scheDesc": "", "serviceType": svc,
            "state": state, "maintType": "1", "env": "1", "system": "unified", "title": title}


def test_states_to_venue_status():
    assert parse_status(answer()).kind == StatusKind.NORMAL
    st = parse_status(answer(ev("scheduled")))
    assert st.kind == StatusKind.SCHEDULED and st.begin_ns == 1672823400000 * 10**6 and st.end_ns == 1672823520000 * 10**6
    assert parse_status(answer(ev("ongoing"))).kind == StatusKind.MAINTENANCE
    assert parse_status(answer(ev("pre_open", svc="9"))).kind == StatusKind.MAINTENANCE
    assert parse_status(answer(ev("ongoing", svc="0"))).kind == StatusKind.SCHEDULED     # WebSocket only
    assert parse_status(answer(ev("ongoing", svc="7"), ev("ongoing", svc="99"))).kind == StatusKind.NORMAL
    assert parse_status(answer(ev("completed"), ev("canceled"))).kind == StatusKind.NORMAL
    # the worst event wins; among scheduled ones the earliest
    st = parse_status(answer(ev("scheduled", begin="1700000000000"), ev("scheduled", begin="1690000000000"),
                             ev("ongoing", svc="6")))
    assert st.kind == StatusKind.SCHEDULED and st.begin_ns == 1690000000000 * 10**6
    assert parse_status(answer(ev("scheduled"), ev("ongoing", svc="8"))).kind == StatusKind.MAINTENANCE


@pytest.mark.parametrize("body", [
    b"", b"[]", answer(code="50001"), json.dumps({"code": "0", "data": {}}).encode(),
    answer(ev("later")), answer(ev("ongoing", begin="soon")), answer(ev("ongoing", begin="-1")), answer("x"),
])
def test_unreadable_answers_are_refused(body):
    with pytest.raises(ValueError):
        parse_status(body)


def test_the_adapter_polls_the_status_endpoint_and_reads_envelope_errors():
    from venuelink.adapters.okx.adapter import OkxAdapter
    from venuelink.errors import RateLimited
    from venuelink.rest import RestResponse
    a = OkxAdapter()
    path, params = a.status_request()
    assert path == "/api/v5/system/status" and params == {}
    assert a.parse_status(answer(ev("ongoing"))).kind == StatusKind.MAINTENANCE
    w, _ = a.rest_cost("GET", path, params)
    assert w == {"PUBLIC_2S": 1}                 # a public endpoint: not the account's budget
    err = a.classify_response(RestResponse(200, {}, b'{"code":"50011","msg":"Rate limit reached.","data":[]}'))
    assert isinstance(err, RateLimited)
    assert a.classify_response(RestResponse(200, {}, b'{"code":"0","msg":"","data":[]}')) is None
