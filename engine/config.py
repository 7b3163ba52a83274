# SPDX-License-Identifier: Apache-2.0
"""Configuration: one TOML file, one table per venue. Credentials come from environment variables
or a 0600 secrets file, and never appear in repr, logs, metrics or exceptions.

    [venues.binance]
    rest_url = "https://api.binance.com"
    ws_url = "wss://stream.binance.com:9443"
    ws_api_url = "wss://ws-api.binance.com:443/ws-api/v3"
    # endpoints = { public = "wss://..." }   # named WebSocket endpoints (OKX: public, business)
    api_key_env = "BINANCE_API_KEY"
    api_secret_env = "BINANCE_API_SECRET"
    # api_passphrase_env = "OKX_API_PASSPHRASE"   # venues whose keys have a passphrase
    # dead_man_s = 60                            # venue-side cancel-all unless re-armed in time
    # or: secrets_file = "/etc/venuelink/binance.toml"  (mode 0600; keys api_key, api_secret)
    symbols = ["BTC/USDT", "ETH/USDT"]

    [metrics]
    port = 9464
"""
from __future__ import annotations

import logging
import os
import stat
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from enum import IntEnum
from typing import TYPE_CHECKING

from venuelink import catalog
from venuelink.errors import ConfigError
from venuelink.model import VenueId

if TYPE_CHECKING:
    from venuelink.venue import WsEndpoint


class UnavailablePolicy(IntEnum):
    """What happens to orders while a venue cannot take them (``unavailable_policy`` of a venue's
    config; venuelink.availability applies it): hold them up to hold_timeout_s, refuse new ones,
    cancel every open order, or only tell the strategy's callback."""
    HOLD = 1
    REJECT_NEW = 2
    CANCEL_ALL = 3
    CALLBACK = 4

    @classmethod
    def parse(cls, name: str) -> "UnavailablePolicy":
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown unavailable_policy {name!r}; one of: "
                             f"{', '.join(p.name.lower() for p in cls)}") from None


class Secret:
    """A credential that cannot leak through str/repr/format/pickling."""
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):
        raise TypeError("secrets cannot be pickled")


@dataclass(frozen=True)
class Credentials:
    api_key: Secret
    api_secret: Secret
    private_key: Secret | None = None
    """PEM of an Ed25519 private key: the venue then gets Ed25519 signatures instead of HMAC."""
    passphrase: Secret | None = None
    """The API key's passphrase where the venue has one (OKX, KuCoin, Bitget)."""

    def __repr__(self) -> str:
        return ("Credentials(api_key=***, api_secret=***" + (", private_key=***" if self.private_key else "")
                + (", passphrase=***" if self.passphrase else "") + ")")


ENDPOINT_DETECTION_TIMERS = ("stale_after_s", "max_data_lag_s", "probe_after_s", "probe_timeout_s",
                             "data_silence_s", "book_quiet_s")
"""the fields of a venue's WsEndpoint that are the engine's own detection timers (not venue facts)"""


_MD_ONLY_SAID: set[tuple[str, str, str]] = set()
"""venues already reported as running market data only (credential variables all unset)"""


@dataclass(frozen=True)
class Timers:
    """The engine's own detection and recovery timers, in one place.

    The defaults are the engine's real values (README, failure handling), asserted by
    tests/engine/test_timers.py. ``scaled(k)`` multiplies every one of them by ``k``: tests that
    exercise detection and recovery (the fault matrix, the session tests) run on compressed time
    instead of waiting out the real timers. Venue facts are not here and are never scaled: a
    venue's ping interval, its maximum connection age, its rate-limit windows stay what the venue
    spec says, so the venue's own rules still hold. Set in code only (``VenueConfig.timers``);
    a config file has no key for it."""
    endpoint_scale: float = 1.0
    """factor on each WebSocket endpoint's detection timers (ENDPOINT_DETECTION_TIMERS: stale and
    lag thresholds, the silent-connection ping and its timeout, data silence, a quiet book)"""
    silence_tick_s: float = 0.25
    """how often venuelink.silence judges every book"""
    silence_grace_s: float = 1.0
    """after a probe saw the venue's book move: the time given to updates in flight"""
    reconnect_min_s: float = 0.1
    """market-data reconnect backoff: first delay (doubling, jittered)"""
    reconnect_max_s: float = 30.0
    """market-data reconnect backoff: cap"""
    planned_reconnect_max_s: float = 2.0
    """cap of the reconnect delay after a close the venue announced (maintenance, migration)"""
    backoff_reset_s: float = 30.0
    """a connection that lived this long resets its reconnect backoff"""
    snapshot_retry_s: float = 0.25
    """REST book snapshot retry: first delay (doubling, jittered)"""
    snapshot_retry_max_s: float = 2.0
    """REST book snapshot retry: cap"""
    quiet_snapshot_s: float = 1.0
    """REST-snapshot books: one that got no update this long after its connection opened fetches
    its snapshot anyway (an update starts the sync; a quiet market sends none for a while)"""
    md_breaker_cooldown_s: float = 1.0
    """market-data REST breaker: first cooldown once open"""
    md_breaker_max_cooldown_s: float = 4.0
    """market-data REST breaker: longest cooldown"""

    def scaled(self, k: float) -> "Timers":
        """Every timer times ``k`` (0 < k <= 1): compressed time for tests."""
        if not 0 < k <= 1:
            raise ValueError(f"a timer scale is in (0, 1], got {k!r}")
        return Timers(**{f.name: getattr(self, f.name) * k for f in fields(self)})

    def endpoint(self, ep: "WsEndpoint") -> "WsEndpoint":
        """The endpoint with its detection timers scaled by ``endpoint_scale``; its venue facts as
        they are."""
        if self.endpoint_scale == 1.0:
            return ep
        return replace(ep, **{name: getattr(ep, name) * self.endpoint_scale for name in ENDPOINT_DETECTION_TIMERS})


@dataclass
class VenueConfig:
    name: str
    rest_url: str = ""
    ws_url: str = ""
    """market-data URL of the venue's first (or only) WebSocket endpoint"""
    ws_api_url: str = ""
    endpoints: dict[str, str] = field(default_factory=dict)
    """WebSocket URL per endpoint name of the venue spec (public, private, business, linear ...)"""
    api_key_env: str = ""
    api_secret_env: str = ""
    api_passphrase_env: str = ""
    secrets_file: str = ""
    private_key_file: str = ""
    symbols: list[str] = field(default_factory=list)
    recv_window_ms: int = 5000
    request_timeout_s: float = 10.0
    order_retention_s: float = 600.0
    unavailable_policy: str = "hold"
    """what happens to orders while the venue is unavailable: hold, reject_new, cancel_all, callback"""
    hold_timeout_s: float = 5.0
    """hold: how long a new order waits for the venue before it is refused"""
    status_poll_s: float = 30.0
    """how often the venue's status endpoint is polled (maintenance windows); 0: never"""
    open_interest_poll_s: float = 10.0
    """venues that publish open interest only over REST (Binance USD-M): how often it is asked for
    each symbol with a derivatives subscriber"""
    order_audit_s: float = 30.0
    """live orders the venue said nothing about for this long are checked against its open
    orders (a lost push never leaves an order looking open); 0: never"""
    demo: bool = False
    """the venue's demo-trading environment where the venue selects it by a flag on each request
    (OKX: ``x-simulated-trading: 1``, with the demo WebSocket URLs); venues whose test network
    is only other URLs (Binance) refuse it at start: set their testnet URLs instead"""
    dead_man_s: int = 0
    """dead man's switch: the venue cancels every open order unless the engine re-arms it within
    this many seconds (re-armed every third of it while running, disarmed on close); 0: off.
    Venues without one refuse a non-zero value at start; their own bounds apply (OKX 10..120)"""

    rate_window_edge_ms: float = 250.0
    """rate budget: a request admitted within this many ms of the end of one of the venue's fixed
    rate windows also counts in the next window (the venue counts it when it arrives, which may
    be after the boundary); set it to the longest send-to-arrival time expected"""

    tier: str = ""
    """"native" (the venue's own adapter) or "ccxt" (venuelink.ccxt_tier: market data through a CCXT
    worker process); "" is native where the venue has an adapter, ccxt otherwise"""
    ccxt_hosts: dict[str, str] = field(default_factory=dict)
    """ccxt tier: exchange host (as in CCXT's exchange.urls) -> base URL replacing its scheme and host"""
    ccxt_isolate: bool = False
    """ccxt tier: every URL of the exchange whose host is not in ccxt_hosts goes to a closed local port"""
    ccxt_options: dict = field(default_factory=dict)
    """ccxt tier: CCXT's own options for the exchange (its `options` dict)"""
    ccxt_book_audit_s: float = -1.0
    """ccxt tier: how often each book is held against the venue's REST book (venuelink.ccxt_tier.audit),
    0 never; -1: every 30 s where the venue's feed carries no sequence or checksum (Gemini,
    Bitstamp), never elsewhere"""
    ccxt_timeout_s: float = 4.0
    """ccxt tier: the deadline of every CCXT REST call of order entry (CCXT's own timeout); a write
    without an answer by then is an unknown outcome, reconciled by client order id"""

    timers: Timers = field(default_factory=Timers)
    """the engine's own detection and recovery timers (code only, not a config-file key): the real
    defaults, or ``Timers().scaled(k)`` for tests on compressed time"""

    def credentials(self) -> Credentials | None:
        """Read credentials now (env vars or the secrets file); None when none are configured.
        With private_key_file (an Ed25519 PEM, mode 0600) only the API key is needed besides it."""
        if self.private_key_file:
            pem = _read_private_file(self.name, Path(self.private_key_file))
            if self.secrets_file:
                key = _read_secrets_file(self.name, Path(self.secrets_file), need_secret=False).api_key
            else:
                key = Secret(os.environ.get(self.api_key_env, "")) if self.api_key_env else Secret("")
            if not key:
                raise ConfigError(f"{self.name}: private_key_file needs the API key too (api_key_env or secrets_file)")
            return Credentials(key, Secret(""), Secret(pem))
        if self.secrets_file:
            creds = _read_secrets_file(self.name, Path(self.secrets_file))
        elif self.api_key_env or self.api_secret_env:
            key, secret = os.environ.get(self.api_key_env, ""), os.environ.get(self.api_secret_env, "")
            phrase_set = bool(self.api_passphrase_env and os.environ.get(self.api_passphrase_env, ""))
            if not key and not secret and not phrase_set:
                # every credential variable unset (the deploy guide's market-data-only path, an
                # empty credentials.env): market data only, said once, never a start refused
                said = (self.name, self.api_key_env, self.api_secret_env)
                if said not in _MD_ONLY_SAID:
                    _MD_ONLY_SAID.add(said)
                    logging.getLogger("venuelink.config").warning(
                        "%s: %s not set: market data only, no orders", self.name,
                        " and ".join(n for n in (self.api_key_env, self.api_secret_env, self.api_passphrase_env) if n))
                return None
            if not key or not secret:
                names = [n or f"({what} not configured: set {what}_env)" for n, v, what in
                         ((self.api_key_env, key, "api_key"), (self.api_secret_env, secret, "api_secret")) if not v]
                raise ConfigError(f"{self.name}: {' and '.join(names)} not set: orders need both the API key "
                                  f"and its secret (market data alone needs neither: remove api_key_env and "
                                  f"api_secret_env)")
            creds = Credentials(Secret(key), Secret(secret))
        else:
            return None
        if self.api_passphrase_env:
            phrase = os.environ.get(self.api_passphrase_env, "")
            if not phrase:
                raise ConfigError(f"{self.name}: environment variable {self.api_passphrase_env} must be set")
            creds = Credentials(creds.api_key, creds.api_secret, creds.private_key, Secret(phrase))
        return creds

    def endpoint_url(self, name: str, default: str, first: bool) -> str:
        """The configured URL of endpoint `name` (ws_url stands for the first endpoint)."""
        if name in self.endpoints:
            return self.endpoints[name]
        if first and self.ws_url:
            return self.ws_url
        return default


def _check_private(venue: str, path: Path, what: str) -> None:
    try:
        st = path.stat()
    except OSError as e:
        raise ConfigError(f"{venue}: cannot read {what} {path}: {e.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{venue}: {what} {path} is readable by others (mode "
                          f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}")


def _read_private_file(venue: str, path: Path) -> str:
    _check_private(venue, path, "private key file")
    text = path.read_text()
    if "PRIVATE KEY" not in text:
        raise ConfigError(f"{venue}: private key file {path} is not a PEM private key")
    return text


def _read_secrets_file(venue: str, path: Path, *, need_secret: bool = True) -> Credentials:
    _check_private(venue, path, "secrets file")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{venue}: secrets file {path} is not valid TOML ({type(e).__name__})") from None
    key, secret = data.get("api_key"), data.get("api_secret", "" if not need_secret else None)
    if not isinstance(key, str) or not isinstance(secret, str) or not key or (need_secret and not secret):
        raise ConfigError(f"{venue}: secrets file {path} needs string keys api_key" +
                          (" and api_secret" if need_secret else ""))
    phrase = data.get("api_passphrase")
    if phrase is not None and (not isinstance(phrase, str) or not phrase):
        raise ConfigError(f"{venue}: secrets file {path}: api_passphrase must be a non-empty string")
    return Credentials(Secret(key), Secret(secret), None, Secret(phrase) if phrase else None)


@dataclass
class Config:
    venues: dict[str, VenueConfig]
    metrics_port: int = 9464
    metrics_host: str = "127.0.0.1"
    state_dir: str = ""
    """where state that must outlive the process is kept (each venue's rate-budget usage, so a
    restart never earns a rate refusal); "" takes $VENUELINK_STATE_DIR, else nothing is kept"""


_VENUE_KEYS = {f for f in VenueConfig.__dataclass_fields__ if f not in ("name", "timers")}


_TOP_KEYS = frozenset({"venues", "metrics", "state_dir"})
_METRICS_KEYS = frozenset({"port", "host"})


_CREDENTIAL_KEYS = ("api_key_env", "api_secret_env", "secrets_file", "private_key_file")


def _tier(name: str, table: dict) -> str:
    """The venue's tier: as configured; else native where its adapter serves what the table asks
    (market data; orders too when keys are given), the CCXT tier otherwise."""
    native = VenueId.parse(name) in catalog.ADAPTERS
    keyed = any(table.get(k) for k in _CREDENTIAL_KEYS)
    fits = native and (catalog.trades(name) or not keyed)
    tier = table.get("tier", "native" if fits else "ccxt")
    if tier not in ("native", "ccxt"):
        raise ConfigError(f"[venues.{name}] tier must be \"native\" or \"ccxt\", got {tier!r}")
    if tier == "native" and not native:
        raise ConfigError(f"[venues.{name}] has no native adapter (native: {', '.join(catalog.available())}): "
                          f"use tier = \"ccxt\"")
    if tier == "native" and keyed and not catalog.trades(name):
        raise ConfigError(f"[venues.{name}] tier = \"native\" serves market data only so far: drop the keys, or "
                          f"trade it with tier = \"ccxt\"")
    return tier


def _check_ccxt(name: str, table: dict) -> None:
    for key in ("rest_url", "ws_url", "ws_api_url", "endpoints"):
        if key in table:
            raise ConfigError(f"[venues.{name}] tier = \"ccxt\": {key} is not used (CCXT knows the venue's URLs; "
                              f"ccxt_hosts = {{\"host\" = \"base URL\"}} moves them)")
    _check_dead_man(name, table)
    keys = [k for k in ("private_key_file",) if table.get(k)]
    if keys:
        raise ConfigError(f"[venues.{name}] tier = \"ccxt\" has no {', '.join(keys)} (orders go over CCXT's REST "
                          f"methods with an API key and secret): remove it")
    to = table.get("ccxt_timeout_s", 4.0)
    if isinstance(to, bool) or not isinstance(to, (int, float)) or not 0.1 <= to <= 60:
        raise ConfigError(f"[venues.{name}] ccxt_timeout_s must be 0.1..60 seconds, got {to!r}")
    au = table.get("ccxt_book_audit_s", -1.0)
    if isinstance(au, bool) or not isinstance(au, (int, float)) or not (au in (-1, 0) or 1 <= au <= 3600):
        raise ConfigError(f"[venues.{name}] ccxt_book_audit_s must be 1..3600 seconds, 0 (never) or -1 "
                          f"(the venue's default), got {au!r}")
    hosts = table.get("ccxt_hosts", {})
    if not isinstance(hosts, dict) or not all(isinstance(k, str) and isinstance(v, str) and "://" in v
                                              for k, v in hosts.items()):
        raise ConfigError(f"[venues.{name}] ccxt_hosts must be a table of \"host\" = \"scheme://host:port\"")
    if not isinstance(table.get("ccxt_isolate", False), bool):
        raise ConfigError(f"[venues.{name}] ccxt_isolate must be true or false")
    if not isinstance(table.get("ccxt_options", {}), dict):
        raise ConfigError(f"[venues.{name}] ccxt_options must be a table (CCXT's exchange options)")
    if not isinstance(table.get("symbols", []), list) or not table.get("symbols"):
        raise ConfigError(f"[venues.{name}] tier = \"ccxt\" needs symbols = [\"BTC/USDT\", ...]")


def _check_dead_man(name: str, table: dict) -> None:
    dm = table.get("dead_man_s", 0)
    if isinstance(dm, bool) or not isinstance(dm, int) or not 0 <= dm <= 3600:
        raise ConfigError(f"[venues.{name}] dead_man_s must be 0 (off) or whole seconds up to 3600, got {dm!r}")


def load_config(path: str | Path) -> Config:
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config {path}: {e}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"config {path}: unknown table(s) or key(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    if not isinstance(data.get("venues", {}), dict):
        raise ConfigError(f"config {path}: venues must be a table of [venues.<venue id>] tables")
    venues = {}
    for name, table in (data.get("venues") or {}).items():
        from venuelink.ccxt_tier import CCXT_IDS, GONE
        if name in GONE:
            raise ConfigError(f"[venues.{name}]: {GONE[name]}; it cannot be configured")
        if name in CCXT_IDS:             # an older CCXT id of a venue (gateio -> gate)
            name = CCXT_IDS[name]
        try:
            VenueId.parse(name)
        except ValueError:
            runnable = [v.name for v in VenueId.all() if v.name not in GONE]
            raise ConfigError(f"[venues.{name}]: unknown venue {name!r}; the venues that run today: "
                              f"{', '.join(runnable)}") from None
        if not isinstance(table, dict):
            raise ConfigError(f"[venues.{name}] must be a table")
        unknown = set(table) - _VENUE_KEYS
        if unknown:
            raise ConfigError(f"[venues.{name}]: unknown keys {sorted(unknown)}; known: {sorted(_VENUE_KEYS)}")
        table = dict(table, tier=_tier(name, table))
        edge = table.get("rate_window_edge_ms", 250.0)
        if isinstance(edge, bool) or not isinstance(edge, (int, float)) or not 0 <= edge <= 5000:
            raise ConfigError(f"[venues.{name}] rate_window_edge_ms must be 0..5000 ms, got {edge!r}")
        if table["tier"] == "ccxt":
            _check_ccxt(name, table)
            venues[name] = VenueConfig(name=name, **table)
            continue
        if not isinstance(table.get("rest_url"), str):
            raise ConfigError(f"[venues.{name}] needs rest_url (string)")
        if not isinstance(table.get("ws_url", ""), str):
            raise ConfigError(f"[venues.{name}] ws_url must be a string")
        eps = table.get("endpoints", {})
        if not isinstance(eps, dict) or not all(isinstance(v, str) for v in eps.values()):
            raise ConfigError(f"[venues.{name}] endpoints must be a table of name = \"wss://...\"")
        if not table.get("ws_url") and not eps:
            raise ConfigError(f"[venues.{name}] needs ws_url or an endpoints table")
        try:
            UnavailablePolicy.parse(str(table.get("unavailable_policy", "hold")))
        except ValueError as e:
            raise ConfigError(f"[venues.{name}] {e}") from None
        sp = table.get("status_poll_s", 30.0)
        if isinstance(sp, bool) or not isinstance(sp, (int, float)) or not (sp == 0 or 1 <= sp <= 3600):
            raise ConfigError(f"[venues.{name}] status_poll_s must be 0 (off) or 1..3600 seconds, got {sp!r}")
        oi = table.get("open_interest_poll_s", 10.0)
        if isinstance(oi, bool) or not isinstance(oi, (int, float)) or not 1 <= oi <= 3600:
            raise ConfigError(f"[venues.{name}] open_interest_poll_s must be 1..3600 seconds, got {oi!r}")
        oa = table.get("order_audit_s", 30.0)
        if isinstance(oa, bool) or not isinstance(oa, (int, float)) or not (oa == 0 or 1 <= oa <= 3600):
            raise ConfigError(f"[venues.{name}] order_audit_s must be 0 (off) or 1..3600 seconds, got {oa!r}")
        _check_dead_man(name, table)
        if not isinstance(table.get("demo", False), bool):
            raise ConfigError(f"[venues.{name}] demo must be true or false, got {table['demo']!r}")
        venues[name] = VenueConfig(name=name, **table)
    m = data.get("metrics", {})
    if not isinstance(m, dict):
        raise ConfigError("[metrics] must be a table (port, host)")
    unknown = set(m) - _METRICS_KEYS
    if unknown:
        raise ConfigError(f"[metrics]: unknown keys {sorted(unknown)}; known: {sorted(_METRICS_KEYS)}")
    port, host = m.get("port", 9464), m.get("host", "127.0.0.1")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"[metrics] port must be an integer 0..65535 (0: any free port), got {port!r}")
    if not isinstance(host, str) or not host:
        raise ConfigError(f"[metrics] host must be a non-empty string, got {host!r}")
    state_dir = data.get("state_dir", "")
    if not isinstance(state_dir, str):
        raise ConfigError(f"config {path}: state_dir must be a directory path (string), got {state_dir!r}")
    return Config(venues=venues, metrics_port=port, metrics_host=host, state_dir=state_dir)
