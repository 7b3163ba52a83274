# SPDX-License-Identifier: Apache-2.0
"""PrivateWsSession against a tiny private venue served by aiohttp on 127.0.0.1.

The venue's wire format (its own, on purpose unlike any real one):
login ``{"op": "login", "key", "ts", "sig"}`` -> ``{"op": "login", "ok": true}`` or
``{"op": "login", "ok": false, "code", "msg"}``; ``{"op": "subscribe"}`` -> ``{"op": "subscribed"}``;
requests ``{"rid", "m", "p"}`` -> ``{"rid", "ok": result}`` / ``{"rid", "err": {"code", "msg"}}``;
pushes ``{"push": {...}}``; application ping: text ``ping`` -> text ``pong``; ``{"op": "closing"}``
announces that the venue will close the connection.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from venuelink.config import Credentials, Secret
from venuelink.errors import AuthError, CircuitOpen, ExecutionUnknown, Rejected, VenueError
from venuelink.model import ConnState
from venuelink.private_ws import MsgKind, PrivateWsDialect, PrivateWsSession
from venuelink.venue import ConnectInfo

KEY, SECRET = "tinykey-4f1c9a", "tinysecret-77d0e3b2"


def _sig(secret: str, ts: int) -> str:
    return hmac.new(secret.encode(), str(ts).encode(), hashlib.sha256).hexdigest()


class TinyDialect(PrivateWsDialect):
    venue = "tiny"
    heartbeat_s = None

    def __init__(self, ping_interval_s: float = 0.0) -> None:
        self.ping_interval_s = ping_interval_s

    def decode(self, text: str) -> Any:
        return text if text == "pong" else json.loads(text)

    def ping_frame(self) -> str | None:
        return "ping"

    def login_frames(self, creds: Credentials, now_ns: int) -> list[str]:
        ts = now_ns // 1_000_000
        return [json.dumps({"op": "login", "key": creds.api_key.reveal(), "ts": ts,
                            "sig": _sig(creds.api_secret.reveal(), ts)})]

    def is_login_ok(self, msg: Any) -> bool:
        return isinstance(msg, dict) and msg.get("op") == "login" and msg.get("ok") is True

    def login_error(self, msg: Any) -> VenueError | None:
        if isinstance(msg, dict) and msg.get("op") == "login" and msg.get("ok") is False:
            return AuthError(f"tiny login refused: {msg.get('code')} {msg.get('msg')}", venue="tiny",
                             code=msg.get("code"))
        return None

    def subscribe_frames(self) -> list[str]:
        return [json.dumps({"op": "subscribe", "channel": "orders"})]

    def request_frame(self, req_id: int, method: str, params: Any) -> str:
        return json.dumps({"rid": req_id, "m": method, "p": params})

    def classify(self, msg: Any) -> tuple[MsgKind, int | None]:
        if msg == "pong":
            return MsgKind.PONG, None
        if not isinstance(msg, dict):
            return MsgKind.UNKNOWN, None
        if "push" in msg:
            return MsgKind.PUSH, None
        if isinstance(msg.get("rid"), int):
            return MsgKind.REPLY, msg["rid"]
        if msg.get("op") in ("subscribed", "login"):
            return MsgKind.EVENT, None
        if msg.get("op") == "closing":
            return MsgKind.ROTATE, None
        if msg.get("op") == "error":
            return MsgKind.ERROR, None
        return MsgKind.UNKNOWN, None

    def reply_result(self, msg: Any) -> Any:
        return msg["ok"]

    def reply_error(self, msg: Any) -> VenueError | None:
        e = msg.get("err")
        return None if e is None else Rejected(f"tiny: {e['code']} {e['msg']}", venue="tiny", code=e["code"])


class TinyVenue:
    """The server side, with switches the tests flip."""

    def __init__(self) -> None:
        self.accept_login = True
        self.reject_handshake = False
        self.answer_pings = True
        self.handshakes = 0
        self.queries: list[str] = []                 # the query string of every handshake
        self.logins: list[bool] = []
        self.subscribes = 0
        self.pings = 0
        self.requests: list[dict] = []
        self.reply_order: list[int] = []
        self.gathered: list[dict] = []
        self.gather_n = 3
        self.late: list[dict] = []
        self.conns: list[web.WebSocketResponse] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> "TinyVenue":
        app = web.Application()
        app.router.add_get("/private", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/private"
        return self

    async def __aexit__(self, *exc) -> None:
        for ws in list(self.conns):
            await ws.close()
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.handshakes += 1
        self.queries.append(request.query_string)
        if self.reject_handshake:
            return web.Response(status=503, text="maintenance")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.conns.append(ws)
        authed = False
        try:
            async for m in ws:
                if m.type != WSMsgType.TEXT:
                    continue
                if m.data == "ping":
                    self.pings += 1
                    if self.answer_pings:
                        await ws.send_str("pong")
                    continue
                msg = json.loads(m.data)
                if msg.get("op") == "login":
                    good = (self.accept_login and msg["key"] == KEY
                            and hmac.compare_digest(msg["sig"], _sig(SECRET, msg["ts"])))
                    self.logins.append(good)
                    authed = good
                    await ws.send_str(json.dumps({"op": "login", "ok": True} if good else
                                                 {"op": "login", "ok": False, "code": 4001, "msg": "invalid key"}))
                elif not authed:
                    await ws.send_str(json.dumps({"op": "error", "msg": "login first"}))
                elif msg.get("op") == "subscribe":
                    self.subscribes += 1
                    await ws.send_str(json.dumps({"op": "subscribed"}))
                else:
                    await self._request(ws, msg)
        finally:
            self.conns.remove(ws)
        return ws

    async def _request(self, ws: web.WebSocketResponse, msg: dict) -> None:
        self.requests.append(msg)
        m, rid, p = msg["m"], msg["rid"], msg["p"]
        if m == "echo":
            await self._reply(ws, rid, {"ok": p})
        elif m == "refuse":
            await self._reply(ws, rid, {"err": {"code": 51008, "msg": "insufficient balance"}})
        elif m == "gather":                   # answered only once gather_n are in, newest first
            self.gathered.append(msg)
            if len(self.gathered) == self.gather_n:
                for g in reversed(self.gathered):
                    await self._reply(ws, g["rid"], {"ok": g["p"]})
                self.gathered.clear()
        elif m == "late":
            self.late.append((ws, msg))
        elif m == "never":
            pass
        elif m == "drop":
            await ws.close()

    async def _reply(self, ws: web.WebSocketResponse, rid: int, body: dict) -> None:
        self.reply_order.append(rid)
        await ws.send_str(json.dumps({"rid": rid, **body}))

    async def flush_late(self, answer: Any = "too late") -> None:
        for ws, g in self.late:
            if not ws.closed:
                await self._reply(ws, g["rid"], {"ok": answer})
        self.late.clear()

    async def push(self, payload: Any) -> None:
        for ws in list(self.conns):
            await ws.send_str(json.dumps({"push": payload}))

    async def send_raw(self, text: str | bytes) -> None:
        for ws in list(self.conns):
            if isinstance(text, bytes):
                await ws.send_bytes(text)
            else:
                await ws.send_str(text)

    async def drop(self) -> None:
        for ws in list(self.conns):
            await ws.close()


def creds(secret: str = SECRET) -> Credentials:
    return Credentials(Secret(KEY), Secret(secret))


def session(venue: TinyVenue, **kw) -> PrivateWsSession:
    opts: dict[str, Any] = dict(backoff_min_s=0.02, backoff_max_s=0.2, auth_backoff_s=0.05, login_timeout_s=2.0)
    opts.update(kw)
    dialect = opts.pop("dialect", None) or TinyDialect()
    return PrivateWsSession(venue.url, dialect, opts.pop("creds", None) or creds(), **opts)


async def until(pred, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


# ----------------------------------------------------------------------------- login


async def test_login_subscribe_and_request_reply():
    async with TinyVenue() as v:
        states: list[bool] = []
        v.url += "?listenKey=lk-0b7e55"               # tokens in the URL stay out of repr too
        s = session(v, on_state=states.append)
        s.start()
        try:
            await until(lambda: s.connected)
            assert "lk-0b7e55" not in repr(s) and "127.0.0.1" in repr(s)
            assert v.logins == [True] and s.connects == 1 and s.reconnects == 0
            await until(lambda: v.subscribes == 1)
            assert await s.request("echo", {"x": 1}) == {"x": 1}
            with pytest.raises(Rejected, match="insufficient balance") as ei:
                await s.request("refuse", {})
            assert ei.value.code == 51008
            assert states == [True]
        finally:
            await s.close()
        assert states == [True, False] and s.state is ConnState.CLOSED


class _TokenDialect(TinyDialect):
    """A venue that hands out a token and a ping interval per connection (KuCoin's bullet)."""

    def __init__(self, base: str) -> None:
        super().__init__(ping_interval_s=0.0)
        self.base, self.issued = base, 0

    async def prepare(self, creds: Credentials) -> ConnectInfo | None:
        self.issued += 1
        return ConnectInfo(f"{self.base}?token=tk-{self.issued}-secret", 0.1)


async def test_prepare_gives_each_connection_its_url_and_ping_interval(caplog):
    async with TinyVenue() as v:
        d = _TokenDialect(v.url)
        s = session(v, dialect=d)
        s.start()
        try:
            await until(lambda: s.connected)
            await until(lambda: v.pings >= 3, 3.0)       # the connection's 0.1 s; the dialect has none
            await v.drop()
            await until(lambda: s.reconnects == 1 and s.connected)
            assert v.queries == ["token=tk-1-secret", "token=tk-2-secret"]
            assert "secret" not in repr(s)
            assert not [r for r in caplog.records if "tk-" in r.getMessage() and not r.name.startswith("aiohttp")]
        finally:
            await s.close()


async def test_login_refused_is_a_counted_auth_error_with_backoff_then_recovers(caplog):
    caplog.set_level(logging.DEBUG)
    async with TinyVenue() as v:
        v.accept_login = False
        s = session(v, auth_backoff_s=0.3, backoff_min_s=0.01)
        s.start()
        try:
            await until(lambda: s.login_failures >= 1 and s.state is ConnState.BACKOFF)
            assert isinstance(s.last_error, AuthError) and "4001 invalid key" in str(s.last_error)
            # the retry after a refused login waits auth_backoff_s (x jitter 0.5..1.5), not backoff_min_s
            assert s.recent_backoffs_s[-1] >= 0.15
            with pytest.raises(AuthError, match="not logged in"):
                await s.request("echo", {})
            assert v.requests == []                       # nothing was sent
            assert not s.connected and s.connects == 0
            v.accept_login = True
            await until(lambda: s.connected)
            assert v.logins[-1] is True and False in v.logins
            assert s.last_error is None and s.connects == 1
            assert await s.request("echo", 7) == 7
        finally:
            await s.close()
        text = caplog.text + repr(s) + repr(s._creds) + str(s.stats())
        assert KEY not in text and SECRET not in text
        assert "login refused" in caplog.text


async def test_wrong_secret_never_connects_and_requests_are_not_sent():
    async with TinyVenue() as v:
        s = session(v, creds=creds("wrong-secret-123"), auth_backoff_s=0.02)
        s.start()
        try:
            await until(lambda: s.login_failures >= 3)
            assert not s.connected and s.connects == 0 and v.subscribes == 0
            with pytest.raises(AuthError):
                await s.request("echo", {})
            assert v.requests == []
        finally:
            await s.close()


async def test_request_before_connect_is_refused_as_not_sent():
    async with TinyVenue() as v:
        s = session(v)
        with pytest.raises(CircuitOpen, match="not sent"):
            await s.request("echo", {})
        await s.close()
        assert v.requests == []


async def test_handshake_failures_back_off_exponentially_with_jitter():
    async with TinyVenue() as v:
        v.reject_handshake = True
        s = session(v, backoff_min_s=0.01, backoff_max_s=0.08)
        s.start()
        try:
            await until(lambda: len(s.recent_backoffs_s) >= 6)
            waits = list(s.recent_backoffs_s)[:6]
            for k, w in enumerate(waits):
                base = min(0.01 * 2 ** k, 0.08)
                assert 0.5 * base <= w <= 1.5 * base, (k, waits)
            assert s.connects == 0 and v.handshakes >= 6
            assert s.last_error is not None and not isinstance(s.last_error, AuthError)
            v.reject_handshake = False
            await until(lambda: s.connected)
        finally:
            await s.close()


# ----------------------------------------------------------------------------- requests


async def test_replies_matched_by_id_when_they_arrive_out_of_order():
    async with TinyVenue() as v:
        s = session(v)
        s.start()
        try:
            await until(lambda: s.connected)
            results = await asyncio.gather(*(s.request("gather", {"n": i}) for i in range(3)))
            assert results == [{"n": 0}, {"n": 1}, {"n": 2}]
            sent = [r["rid"] for r in v.requests]
            assert v.reply_order == list(reversed(sent))  # really answered newest first
            assert len(set(sent)) == 3
            assert s.stats()["pending"] == 0
        finally:
            await s.close()


async def test_reply_that_never_comes_is_execution_unknown_and_a_late_one_is_counted():
    async with TinyVenue() as v:
        s = session(v)
        s.start()
        try:
            await until(lambda: s.connected)
            with pytest.raises(ExecutionUnknown, match="no reply to late"):
                await s.request("late", {"cid": "a1"}, timeout_s=0.2)
            assert s.timeouts == 1 and s.stats()["pending"] == 0
            await v.flush_late()                          # the answer turns up after all
            await until(lambda: s.stray_replies == 1)
            assert s.connected and await s.request("echo", "still fine") == "still fine"
        finally:
            await s.close()


async def test_dropped_connection_fails_pending_requests_then_reconnects_relogs_and_resubscribes():
    async with TinyVenue() as v:
        reconnected: list[int] = []
        states: list[bool] = []
        s = session(v, on_state=states.append)
        s.on_reconnected = lambda: reconnected.append(len(v.logins))
        s.start()
        try:
            await until(lambda: s.connected)
            waiting = [asyncio.ensure_future(s.request("never", {"i": i}, timeout_s=30)) for i in range(3)]
            await until(lambda: len(v.requests) == 3)
            await v.drop()
            for t in waiting:
                with pytest.raises(ExecutionUnknown, match="connection closed"):
                    await t
            assert s.timeouts == 0                        # failed by the disconnect, not by a timeout
            await until(lambda: s.reconnects == 1 and s.connected)
            assert v.logins == [True, True] and v.handshakes == 2
            assert reconnected == [2]                     # called once, after the new login succeeded
            await until(lambda: v.subscribes == 2)
            assert s.connects == 2 and states == [True, False, True]
            assert await s.request("echo", "after") == "after"
        finally:
            await s.close()


async def test_close_fails_pending_requests_as_unknown():
    async with TinyVenue() as v:
        s = session(v)
        s.start()
        await until(lambda: s.connected)
        t = asyncio.ensure_future(s.request("never", {}, timeout_s=30))
        await until(lambda: len(v.requests) == 1)
        await s.close()
        with pytest.raises(ExecutionUnknown):
            await t
        assert s.reconnects == 0 and v.handshakes == 1


async def test_connection_closed_by_the_venue_mid_request_is_unknown():
    async with TinyVenue() as v:
        s = session(v)
        s.start()
        try:
            await until(lambda: s.connected)
            with pytest.raises(ExecutionUnknown):
                await s.request("drop", {}, timeout_s=30)
            await until(lambda: s.reconnects == 1 and s.connected)
        finally:
            await s.close()


# ----------------------------------------------------------------------------- pushes and garbage


async def test_pushes_in_order_and_garbage_counted_without_breaking_the_session(caplog):
    caplog.set_level(logging.INFO)
    async with TinyVenue() as v:
        got: list[Any] = []

        def on_push(msg: Any) -> None:
            if msg["push"] == "boom":
                raise RuntimeError("handler bug")
            got.append(msg["push"]["seq"])

        s = session(v, on_push=on_push)
        s.start()
        try:
            await until(lambda: s.connected)
            for i in range(20):
                await v.push({"seq": i})
            await v.send_raw("{not json")
            await v.send_raw(json.dumps({"what": "is this", "echo": KEY}))  # a key echoed back
            await v.send_raw(b"\x00\x01binary")
            await v.send_raw("[1, 2, 3]")
            await v.push("boom")
            await v.send_raw(json.dumps({"op": "error", "msg": "slow down"}))
            for i in range(20, 40):
                await v.push({"seq": i})
            await until(lambda: len(got) == 40)
            assert got == list(range(40))
            assert s.unknown_messages == 4 and s.callback_errors == 1 and s.venue_errors == 1
            assert s.pushes == 41 and s.connected and s.reconnects == 0
            assert await s.request("echo", 1) == 1
        finally:
            await s.close()
        assert "dropped" in caplog.text and KEY not in caplog.text


async def test_application_pings_keep_the_session_and_silence_reconnects_it():
    async with TinyVenue() as v:
        s = session(v, dialect=TinyDialect(ping_interval_s=0.05))
        s.start()
        try:
            await until(lambda: s.connected)
            await until(lambda: v.pings >= 4)
            assert s.reconnects == 0 and s.unknown_messages == 0
            v.answer_pings = False                        # the venue goes silent without closing
            await until(lambda: s.reconnects == 1 and s.connected)
            assert v.logins == [True, True]
        finally:
            await s.close()


class _BadLoginAnswer(TinyDialect):
    def is_login_ok(self, msg: Any) -> bool:            # never recognises the answer
        return False

    def login_error(self, msg: Any) -> VenueError | None:
        return None


async def test_unanswered_login_times_out_counted_and_retried():
    async with TinyVenue() as v:
        s = session(v, dialect=_BadLoginAnswer(), login_timeout_s=0.1)
        s.start()
        try:
            await until(lambda: s.login_failures >= 2)
            assert isinstance(s.last_error, ExecutionUnknown) and "no login answer" in str(s.last_error)
            assert not s.connected and s.connects == 0 and len(v.logins) >= 2
        finally:
            await s.close()


# ----------------------------------------------------------------------------- rotation


class _ShortLived(TinyDialect):
    """A venue that closes connections after a short maximum age."""
    max_connection_age_s = 0.5


async def test_maximum_age_rotation_is_make_before_break():
    async with TinyVenue() as v:
        states: list[bool] = []
        got: list[int] = []
        reconnected: list[int] = []
        s = session(v, dialect=_ShortLived(), on_state=states.append, on_push=lambda m: got.append(m["push"]["n"]),
                    on_reconnected=lambda: reconnected.append(1))
        s.start()
        try:
            await until(lambda: s.connected)
            assert await s.request("echo", "before") == "before"
            late = asyncio.ensure_future(s.request("late", "owed", timeout_s=30))
            await until(lambda: len(v.late) == 1)
            # at 95 % of the age a second connection logs in and subscribes; the first stays open
            # for the answer it owes
            # (the venue counts the new connection's subscribe when it arrives: on a loaded host a
            # moment after the session counted the rotation)
            await until(lambda: s.rotations == 1 and v.subscribes == 2)
            assert len(v.conns) == 2 and v.logins == [True, True] and v.subscribes == 2
            assert not late.done() and s.stats()["connections"] == 2
            assert await s.request("echo", "after") == "after"
            assert v.requests[-1]["rid"] != v.late[0][1]["rid"]
            await v.push({"n": 1})                    # both connections carry it: delivered once
            await until(lambda: got == [1] and s.duplicate_pushes == 1)
            await v.flush_late("paid")
            assert await late == "paid"
            await until(lambda: len(v.conns) == 1 and s.stats()["connections"] == 1)
            await v.push({"n": 2})
            await until(lambda: got == [1, 2])
            st = s.stats()
            assert st["rotations_age"] >= 1 and st["rotations_notice"] == 0 and st["rotations_abandoned"] == 0
            assert s.reconnects == 0 and s.connects == 1 and s.timeouts == 0 and reconnected == []
            assert states == [True] and s.connected
        finally:
            await s.close()
        assert v.conns == [] and states == [True, False]


async def test_closing_notice_rotates_and_a_failed_replacement_is_retried_while_the_old_one_serves():
    async with TinyVenue() as v:
        states: list[bool] = []
        s = session(v, on_state=states.append)
        s.start()
        try:
            await until(lambda: s.connected)
            v.reject_handshake = True                 # the replacement cannot connect at first
            await v.send_raw(json.dumps({"op": "closing"}))
            await until(lambda: s.rotation_failures >= 2)
            assert s.rotating and s.rotations == 0 and s.connected
            assert await s.request("echo", "old one") == "old one"
            v.reject_handshake = False
            await until(lambda: s.rotations == 1 and len(v.conns) == 1)
            assert s.stats()["rotations_notice"] == 1 and v.logins == [True, True]
            assert await s.request("echo", "new one") == "new one"
            assert s.reconnects == 0 and states == [True]
            await v.send_raw(json.dumps({"op": "closing"}))   # the venue may announce again
            await until(lambda: s.rotations == 2 and len(v.conns) == 1)
        finally:
            await s.close()


async def test_old_connection_closing_before_the_replacement_logs_in_takes_the_reconnect_path():
    async with TinyVenue() as v:
        states: list[bool] = []
        reconnected: list[int] = []
        s = session(v, on_state=states.append, on_reconnected=lambda: reconnected.append(1))
        s.start()
        try:
            await until(lambda: s.connected)
            waiting = asyncio.ensure_future(s.request("never", {}, timeout_s=30))
            await until(lambda: len(v.requests) == 1)
            v.accept_login = False                    # the replacement's login is refused
            await v.send_raw(json.dumps({"op": "closing"}))
            await until(lambda: s.rotation_failures >= 1)
            await v.drop()                            # then the venue closes the old connection
            with pytest.raises(ExecutionUnknown, match="connection closed"):
                await waiting
            await until(lambda: s.rotations_abandoned == 1 and not s.connected)
            v.accept_login = True
            await until(lambda: s.reconnects == 1 and s.connected)
            assert reconnected == [1] and s.rotations == 0 and states == [True, False, True]
            assert await s.request("echo", 3) == 3
        finally:
            await s.close()
