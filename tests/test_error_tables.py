# SPDX-License-Identifier: Apache-2.0
"""Error answers, one suite for every registered venue: each venue's answers in
tests/fixtures/<venue>/errors.json (status, headers, body as the venue sends them) read by its
adapter (map_error for HTTP errors, classify_response for errors inside HTTP 200 bodies) must
become the engine error a caller acts on, with the venue's code, the HTTP status and the retry
time where the venue gives one; and every venue's table covers what every venue can answer:
rate limited, busy, clock skew, bad signature, unknown order, insufficient balance and a
duplicate client order id (which means an order with that id exists: reconciled, never refused)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from venuelink import errors as E
from venuelink import registry
from venuelink.rest import RestResponse

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MEANINGS = {"rate_limited", "busy", "clock_skew", "bad_signature", "unknown_order", "insufficient_balance",
            "duplicate_client_id"}


def _table(venue: str) -> list[dict]:
    path = FIXTURES / venue / "errors.json"
    return json.loads(path.read_text())["answers"] if path.exists() else []


CASES = [(v, r) for v in registry.available() for r in _table(v)]


@pytest.mark.parametrize("venue", registry.available())
def test_every_venue_answers_every_meaning(venue: str) -> None:
    assert MEANINGS <= {r["meaning"] for r in _table(venue)}


@pytest.mark.parametrize("venue,answer", CASES, ids=[f"{v}-{r['meaning']}-{r['code']}" for v, r in CASES])
def test_each_answer_becomes_the_error_a_caller_acts_on(venue: str, answer: dict) -> None:
    a = registry.create(venue)
    body = answer["body"] if isinstance(answer["body"], str) else json.dumps(answer["body"])
    resp = RestResponse(answer["status"], answer.get("headers", {}), body.encode())
    err = a.classify_response(resp) if answer["status"] < 300 else a.map_error(resp)
    assert type(err) is getattr(E, answer["error"]), (answer, err)
    assert err.code == answer["code"] and err.http_status == answer["status"]
    if "retry_after_s" in answer:
        assert err.retry_after_s == answer["retry_after_s"]
    if "buckets_only" in answer:                          # one limit's refusal, not every lane's
        assert err.buckets_only == answer["buckets_only"]
    if answer["meaning"] == "duplicate_client_id":
        assert isinstance(err, E.ExecutionUnknown)        # an order with that id exists: reconcile it
