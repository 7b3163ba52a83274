"""The CLI as a user runs it: `venuelink run` against the simulators, `venuelink order`."""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from venuelink import registry
from tests.engine.conftest import cli_config
from tests.venue_cases import btc, case, resting


def venuelink(*args, env=None, timeout=90):
    return subprocess.run([sys.executable, "-m", "venuelink.tools.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_run_against_simulator_shows_books_and_serves_metrics():
    p = subprocess.Popen([sys.executable, "-m", "venuelink.tools.cli", "run", "--duration", "6", "--metrics-port", "0",
                          "--plain"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, metrics = [], ""
    deadline = time.monotonic() + 60
    port = None
    for line in p.stdout:
        lines.append(line)
        m = re.search(r"metrics on http://127.0.0.1:(\d+)/metrics", line)
        if m:
            port = int(m.group(1))
        if port and "LIVE" in line and not metrics:
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        if time.monotonic() > deadline:
            break
    assert p.wait(timeout=30) == 0, p.stderr.read()
    out = "".join(lines)
    assert re.search(r"BTC/USDT\s+LIVE\s+bid\s+\d", out), out[-2000:]
    assert "msgs/s=" in out and "recv->decoded p50/p99=" in out
    assert "(stops after 6 s)" in out and "Ctrl-C" not in out
    assert re.search(r"^venuelink: ran \d+\.\d s; binance: [1-9]\d* frames, \d+ resyncs, \d+ orders, \d+ fills",
                     out, re.M), out[-1000:]
    assert re.search(r"last trade (buy|sell)\s+\S+ @ \d", out)
    assert 'venuelink_book_state{symbol="BTC/USDT",venue="binance"} 2.0' in metrics


@pytest.mark.parametrize("venue", registry.trading())
def test_order_cli_place_status_cancel(tmp_path, venue):
    """The one-shot REST order tool works the same for every venue."""
    from venuelink.sim.server import running_simulator
    (qty, price), bad_sign, wrong_secret = resting(venue), case(venue, "bad_signature_code"), case(venue, "wrong_secret")
    with running_simulator(venue, rate=0) as sim:           # a still market: the order rests far below it
        cfg = cli_config(tmp_path, sim, venue=venue)
        env = {"VL_CLI_KEY": sim["api_key"], "VL_CLI_SECRET": sim["api_secret"],
               "VL_CLI_PASSPHRASE": sim.info.get("api_passphrase", "")}
        common = ["--config", str(cfg), "--venue", venue, "--symbol", btc(venue)]
        p = venuelink("order", "place", *common, "--side", "buy", "--qty", qty, "--price", price,
                      "--client-id", "cliTest1", env=env)
        o = json.loads(p.stdout)
        assert p.returncode == 0 and o["state"] == "new" and o["client_order_id"] == "cliTest1" and o["venue_order_id"]
        o = json.loads(venuelink("order", "status", *common, "--client-id", "cliTest1", env=env).stdout)
        assert o["state"] == "new" and o["filled_qty"] == "0"
        p = venuelink("order", "amend", *common, "--client-id", "cliTest1", "--price", case(venue, "amend_price"), env=env)
        o = json.loads(p.stdout)
        if case(venue, "amend_in_place"):
            assert p.returncode == 0 and o["state"] == "new" and o["price"] == case(venue, "amend_price")
            o = json.loads(venuelink("order", "status", *common, "--client-id", "cliTest1", env=env).stdout)
            assert o["price"] == case(venue, "amend_price")
        else:                                   # the venue has no amend: said so, order untouched
            assert p.returncode == 1 and "amend refused" in o["error"] and o["state"] == "new"
        o = json.loads(venuelink("order", "cancel", *common, "--client-id", "cliTest1", env=env).stdout)
        assert o["state"] == "canceled"
        p = venuelink("order", "status", *common, "--client-id", "doesNotExist", env=env)
        o = json.loads(p.stdout)
        assert p.returncode == 1 and o["state"] == "unknown" and "no such order" in o["error"]
        p = venuelink("order", "place", *common, "--side", "buy", "--qty", qty, "--price", price,
                      env={**env, "VL_CLI_SECRET": wrong_secret})
        o = json.loads(p.stdout)
        assert o["state"] == "rejected" and bad_sign in o["error"] and sim["api_key"] not in p.stdout + p.stderr
        assert env["VL_CLI_SECRET"] not in p.stdout + p.stderr
        # a mistake in the command only the venue's instruments show: exit 2, nothing printed on
        # stdout (the mistakes the command's own arguments show, before any venue is asked, are
        # test_order_cli_argument_mistakes_are_usage_errors_before_any_venue_is_asked)
        p = venuelink("order", "status", "--config", str(cfg), "--venue", venue, "--symbol", "FOO/BAR",
                      "--client-id", "cliTest1", env=env)
        assert p.returncode == 2 and "has no instrument 'FOO/BAR'" in p.stderr and p.stdout == "", (p.stdout, p.stderr)
        p = venuelink("order", "place", *common, "--side", "sell", "--type", "market", "--qty", qty, env=env)
        o = json.loads(p.stdout)
        assert o["type"] == "market" and o["tif"] == "IOC", o


def test_order_cli_swap_in_contracts_and_reduce_only(tmp_path):
    """A USDT swap through the order tool: size in contracts, and a reduce-only order with no
    position to reduce refused with the venue's code."""
    from venuelink.sim.server import running_simulator
    with running_simulator("okx", rate=0) as sim:            # a still market will do
        cfg = cli_config(tmp_path, sim, venue="okx")
        env = {"VL_CLI_KEY": sim["api_key"], "VL_CLI_SECRET": sim["api_secret"],
               "VL_CLI_PASSPHRASE": sim["api_passphrase"]}
        common = ["--config", str(cfg), "--venue", "okx", "--symbol", "BTC/USDT:USDT"]
        p = venuelink("order", "place", *common, "--side", "buy", "--qty", "2", "--price", "1000",
                      "--client-id", "cliSwap1", env=env)
        o = json.loads(p.stdout)
        assert p.returncode == 0 and (o["state"], o["symbol"], o["qty"]) == ("new", "BTC/USDT:USDT", "2"), p.stdout
        o = json.loads(venuelink("order", "status", *common, "--client-id", "cliSwap1", env=env).stdout)
        assert (o["state"], o["qty"], o["filled_qty"]) == ("new", "2", "0")
        o = json.loads(venuelink("order", "cancel", *common, "--client-id", "cliSwap1", env=env).stdout)
        assert o["state"] == "canceled"
        p = venuelink("order", "place", *common, "--side", "sell", "--type", "market", "--qty", "1",
                      "--reduce-only", env=env)
        o = json.loads(p.stdout)
        assert p.returncode == 1 and o["state"] == "rejected" and "51169" in o["error"] and o["reduce_only"]
        p = venuelink("order", "place", "--config", str(cfg), "--venue", "okx", "--symbol", "BTC/USDT",
                      "--side", "sell", "--qty", "0.001", "--price", "100000", "--reduce-only", env=env)
        o = json.loads(p.stdout)
        assert p.returncode == 1 and o["state"] == "rejected" and "spot" in o["error"]


def test_an_unknown_order_outcome_is_not_a_success(capsys):
    from venuelink.tools.run import _order_exit
    assert _order_exit({"state": "unknown", "client_order_id": "vl-1"}, "binance") == 3
    err = capsys.readouterr().err
    assert "may exist" in err and "order status" in err and "vl-1" in err
    assert _order_exit({"state": "rejected", "error": "-2010"}, "binance") == 1
    assert _order_exit({"state": "new"}, "binance") == 0
    assert _order_exit({"state": "canceled"}, "binance") == 0


@pytest.mark.parametrize("args, says", [
    (["normalize", "binance", "/no/such/recording.jsonl"], "no such file '/no/such/recording.jsonl'"),
    (["normalize", "binance", "tests"], "'tests' is a directory"),
    (["normalize", "nosuchvenue", "tests/fixtures/binance/session.jsonl"], "unknown venue 'nosuchvenue'"),
    (["normalize", "kraken", "tests/fixtures/binance/session.jsonl"], "venue 'kraken' has no adapter yet"),
])
def test_a_user_mistake_exits_2_with_one_line_that_says_what_is_wrong(args, says):
    r = venuelink(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"venuelink {args[0]}: error: ")


def test_no_command_prints_the_commands_and_version_answers():
    r = venuelink()
    assert r.returncode == 2 and "normalize" in r.stderr and "run" in r.stderr and "Traceback" not in r.stderr
    v = venuelink("--version")
    assert v.returncode == 0 and re.fullmatch(r"venuelink \d+\.\d+\.\d+\S*\n", v.stdout), v.stdout


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`venuelink normalize ... --book | head -1` and `venuelink run | head -3`: no traceback, no
    false bad lines; `run` ends as a SIGPIPE'd tool does (141)."""
    cmd = [sys.executable, "-m", "venuelink.tools.cli"]
    # only good lines (the fixture's deliberate bad ones would be reported rightly when the reader
    # is slower than the tool), and enough of them that the pipe fills before the end
    good = [ln for ln in open("tests/fixtures/binance/session.jsonl").read().splitlines()[:11]]
    rec = tmp_path / "good.jsonl"
    rec.write_text("\n".join(good[:1] + good[1:] * 400) + "\n")
    p = subprocess.Popen(cmd + ["normalize", "binance", str(rec), "--book"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) in (0, 141) and "Traceback" not in err and "bad line" not in err.replace(
        "0 bad lines", ""), err
    p = subprocess.Popen(cmd + ["run", "--duration", "20", "--metrics-port", "0", "--plain"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(3):
        p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err, err


@pytest.mark.parametrize("flag, value, says", [
    ("--duration", "-1", "give 0 (until Ctrl-C) or a positive number"),
    ("--rate", "0", "rate is 1..10000"),
    ("--metrics-port", "70000", "a TCP port is 0..65535"),
])
def test_run_refuses_absurd_numbers_before_starting(flag, value, says):
    r = venuelink("run", flag, value)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_strategy_against_a_remote_venue_needs_live_and_venues_must_be_configured(tmp_path):
    cfg = tmp_path / "live.toml"
    cfg.write_text('[venues.binance]\nrest_url = "https://api.binance.com"\nws_url = "wss://stream.binance.com:9443"\n')
    r = venuelink("run", "--config", str(cfg), "--strategy")
    assert r.returncode == 2 and "add --live to confirm" in r.stderr and "binance" in r.stderr, r.stderr
    r = venuelink("run", "--config", str(cfg), "--venues", "okx")
    assert r.returncode == 2 and "--venues okx: not in" in r.stderr, r.stderr


def test_after_ctrl_c_the_last_view_shows_no_book_live_and_the_summary():
    """Ctrl-C (SIGINT) stops the run: the view drawn after the close shows every connection closed
    and no book LIVE (nothing keeps them current any more), then the one-line summary."""
    import signal
    p = subprocess.Popen([sys.executable, "-m", "venuelink.tools.cli", "run", "--metrics-port", "0", "--plain"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + 60
    for line in p.stdout:
        lines.append(line)
        if "LIVE" in line and "bid" in line:
            break
        assert time.monotonic() < deadline, "".join(lines)[-2000:]
    assert "(Ctrl-C to stop)" in "".join(lines)
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    last = rest[rest.rindex("venuelink  "):]          # the final block, header to the end
    assert " LIVE " not in last, last
    assert re.search(r"BTC/USDT\s+STALE", last), last
    assert re.search(r"conn=closed", last), last
    assert re.search(r"^venuelink: ran \d+\.\d s; binance: [1-9]\d* frames", last, re.M), last
    assert "Traceback" not in err, err


def test_normalize_fails_when_nothing_could_be_normalized(tmp_path):
    """A recording with bad lines and nothing normalized (another venue's, a wrong file) exits 1
    saying so; bad lines among good ones are reported and the exit stays 0."""
    okx = tmp_path / "okx.jsonl"
    okx.write_text('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[]}\n'
                   'not json at all\n')
    r = venuelink("normalize", "binance", str(okx))
    assert r.returncode == 1 and "1 bad lines" in r.stderr and "nothing in the input could be normalized" in r.stderr
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(open("tests/fixtures/binance/session.jsonl").read() + "not json at all\n")
    r = venuelink("normalize", "binance", str(mixed))
    assert r.returncode == 0 and "4 bad lines" in r.stderr and r.stdout    # the fixture has 3 on purpose


def _sim_env(sim):
    return {"VL_CLI_KEY": sim["api_key"], "VL_CLI_SECRET": sim["api_secret"],
            "VL_CLI_PASSPHRASE": sim.info.get("api_passphrase", "")}


def _order_requests(sim) -> list:
    """The order-changing REST requests the simulator received (placements, cancels, amends)."""
    log = json.loads(urllib.request.urlopen(f"{sim['admin_url']}/requests", timeout=10).read())["requests"]
    return [r for r in log if r[1] != "GET" and "order" in r[2].lower()]


@pytest.mark.parametrize("venue", registry.trading())
def test_order_cli_a_venue_that_cannot_be_reached_is_not_a_rejection(tmp_path, venue):
    """The venue's REST port refuses connections (its simulator stopped): `place` says the order
    was not sent and which URL it cannot reach (exit 4), `status` says the order's state is
    unknown, never rejected (exit 3), `cancel` was not sent (exit 4)."""
    from venuelink.sim.server import running_simulator
    with running_simulator(venue, rate=0) as sim:            # a still market will do
        cfg = cli_config(tmp_path, sim, venue=venue)
        env = _sim_env(sim)
        url = sim.rest_url.rstrip("/")
    assert url.startswith("http://127.0.0.1:")                  # names host and port
    common = ["--config", str(cfg), "--venue", venue, "--symbol", btc(venue)]
    qty, price = resting(venue)
    p = venuelink("order", "place", *common, "--side", "buy", "--qty", qty, "--price", price,
                  "--client-id", "cliGone1", env=env)
    o = json.loads(p.stdout)
    assert p.returncode == 4, (p.returncode, p.stdout, p.stderr)
    assert o["state"] == "not_sent" and o["sent"] is False and o["client_order_id"] == "cliGone1"
    assert f"cannot reach {url}" in o["error"] and "not sent" in o["error"]
    assert f"cannot reach {url}" in p.stderr and "rejected" not in p.stdout + p.stderr
    p = venuelink("order", "status", *common, "--client-id", "cliGone1", env=env)
    o = json.loads(p.stdout)
    assert p.returncode == 3 and o["state"] == "unknown" and f"cannot reach {url}" in o["error"], p.stdout
    assert f"cannot reach {url}" in p.stderr and "rejected" not in p.stdout + p.stderr
    p = venuelink("order", "cancel", *common, "--client-id", "cliGone1", env=env)
    o = json.loads(p.stdout)
    assert p.returncode == 4 and o["state"] == "unknown" and o["sent"] is False, p.stdout
    assert f"cancel not sent: cannot reach {url}" in o["error"]


@pytest.mark.parametrize("venue", registry.trading())
def test_order_cli_market_order_prints_its_final_state(tmp_path, venue):
    """A market order placed with --wait is followed until it is final: `place` prints it filled
    as the venue has it, and `status` tells the same (state, filled size, IOC)."""
    from venuelink.sim.server import running_simulator
    with running_simulator(venue, rate=0) as sim:            # a still market will do
        cfg = cli_config(tmp_path, sim, venue=venue)
        env = _sim_env(sim)
        common = ["--config", str(cfg), "--venue", venue, "--symbol", btc(venue)]
        p = venuelink("order", "place", *common, "--side", "buy", "--type", "market", "--qty", "0.01",
                      "--client-id", "cliMkt1", "--wait", "3", env=env)
        placed = json.loads(p.stdout)
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert (placed["state"], placed["filled_qty"], placed["type"], placed["tif"]) == \
            ("filled", "0.01", "market", "IOC"), placed
        p = venuelink("order", "status", *common, "--client-id", "cliMkt1", env=env)
        status = json.loads(p.stdout)
        assert p.returncode == 0
        for k in ("state", "filled_qty", "type", "tif", "price", "venue_order_id"):
            assert status[k] == placed[k], (k, placed, status)




def _usage_error(p, action: str, says: str, what) -> None:
    """A mistake in the command: exit 2, one line on stderr saying `says`, nothing on stdout."""
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and p.stdout == "", (what, p.returncode, p.stdout, p.stderr)
    assert len(lines) == 1 and says in lines[0] and "rejected" not in lines[0], (what, p.stderr)
    assert lines[0].startswith(f"venuelink order {action}: error: "), (what, p.stderr)


@pytest.mark.parametrize("venue", registry.trading())
def test_order_cli_bad_numbers_are_usage_errors_and_nothing_is_sent(tmp_path, venue):
    """A price off the venue's tick (what only its instruments show): exit 2 with one line on
    stderr, nothing printed on stdout, no order request reaches the venue, the resting order as it
    was. (--qty 0, -1, abc, --price -5, amend with nothing to change: the command's own arguments
    show those, before any venue is asked; test_order_cli_argument_mistakes_are_usage_errors_...)"""
    from venuelink.sim.server import running_simulator
    with running_simulator(venue, rate=0) as sim:           # a still market: the order rests far below it
        cfg = cli_config(tmp_path, sim, venue=venue)
        env = _sim_env(sim)
        common = ["--config", str(cfg), "--venue", venue, "--symbol", btc(venue)]
        qty, price = resting(venue)
        p = venuelink("order", "place", *common, "--side", "buy", "--qty", qty, "--price", price,
                      "--client-id", "cliRest1", env=env)
        assert p.returncode == 0 and json.loads(p.stdout)["state"] == "new", p.stdout
        before = len(_order_requests(sim))
        assert before >= 1
        off_tick = case(venue, "off_tick_price")
        p = venuelink("order", "place", *common, "--side", "buy", "--qty", "0.001", "--price", off_tick, env=env)
        _usage_error(p, "place", off_tick, off_tick)
        assert len(_order_requests(sim)) == before, _order_requests(sim)[before:]
        o = json.loads(venuelink("order", "status", *common, "--client-id", "cliRest1", env=env).stdout)
        assert (o["state"], o["qty"], o["price"]) == ("new", qty, price), o


def test_order_cli_argument_mistakes_are_usage_errors_before_any_venue_is_asked(tmp_path):
    """Mistakes the command's own arguments show (venuelink.tools.run._order_usage, checked before the
    config is read, so the same for every venue; a config that cannot be read): --qty 0, -1, abc,
    --price -5, a limit order without --price, a symbol not in unified notation, amend with nothing
    to change: exit 2 with one line on stderr, nothing printed on stdout, no order request reaches
    the venue, the resting order as it was."""
    from venuelink.sim.server import running_simulator
    with running_simulator("binance", rate=0) as sim:       # a still market: the order rests far below it
        cfg = cli_config(tmp_path, sim)
        env = _sim_env(sim)
        common = ["--config", str(cfg), "--venue", "binance", "--symbol", "BTC/USDT"]
        qty, price = resting("binance")
        p = venuelink("order", "place", *common, "--side", "buy", "--qty", qty, "--price", price,
                      "--client-id", "cliRest1", env=env)
        assert p.returncode == 0 and json.loads(p.stdout)["state"] == "new", p.stdout
        before = len(_order_requests(sim))
        assert before >= 1
        cases = [(("place", "--side", "buy", "--qty", "0", "--price", "1000"), "--qty 0"),
                 (("place", "--side", "buy", "--qty", "-1", "--price", "1000"), "--qty -1"),
                 (("place", "--side", "buy", "--qty", "abc", "--price", "1000"), "'abc' is not a decimal number"),
                 (("place", "--side", "buy", "--type", "market", "--qty", "abc"), "'abc' is not a decimal number"),
                 (("place", "--side", "buy", "--qty", "0.001", "--price", "-5"), "--price -5"),
                 (("place", "--side", "buy", "--qty", qty), "needs --price"),
                 (("amend", "--client-id", "cliRest1"), "amend needs something to change"),
                 (("amend", "--client-id", "cliRest1", "--qty", "0"), "--qty 0")]
        for args, says in cases:
            _usage_error(venuelink("order", args[0], *common, *args[1:], env=env), args[0], says, args)
        p = venuelink("order", "status", "--config", str(cfg), "--venue", "binance", "--symbol", "BTCUSDT",
                      "--client-id", "cliRest1", env=env)
        _usage_error(p, "status", "is not a unified symbol", "BTCUSDT")
        p = venuelink("order", "place", "--config", str(tmp_path / "nope.toml"), "--venue", "binance", "--symbol",
                      "BTC/USDT", "--side", "buy", "--qty", qty, "--price", price, env=env)
        _usage_error(p, "place", "cannot read config", "nope.toml")
        assert len(_order_requests(sim)) == before, _order_requests(sim)[before:]
        o = json.loads(venuelink("order", "status", *common, "--client-id", "cliRest1", env=env).stdout)
        assert (o["state"], o["qty"], o["price"]) == ("new", qty, price), o


@pytest.mark.parametrize("action", ["place", "cancel", "status", "amend"])
def test_order_help_lists_the_exit_codes(action):
    from venuelink.tools.run import EXIT_NOT_SENT, EXIT_REFUSED, EXIT_UNKNOWN
    p = venuelink("order", action, "--help")
    assert p.returncode == 0 and "exit status:" in p.stdout, p.stdout
    for code, says in ((0, "the venue's answer"), (EXIT_REFUSED, "refused by the venue"),
                       (2, "a mistake in the command"), (EXIT_UNKNOWN, "outcome unknown"),
                       (EXIT_NOT_SENT, "the venue cannot be reached")):
        assert re.search(rf"^  {code}  {says}", p.stdout, re.M), (code, p.stdout)
    readme = " ".join(open("README.md").read().split())
    assert f"and {EXIT_NOT_SENT} when the venue cannot be reached" in readme


def test_instruments_lists_a_venues_instruments_exactly(tmp_path):
    """`venuelink instruments VENUE` loads the instruments as the engine does at start (here from
    the built-in simulator): unified and venue symbols, exact tick and lot, status; --json carries
    every amount as an exact string; a symbol the venue does not list exits 1, naming it."""
    import json as _json
    r = venuelink("instruments", "okx")
    assert r.returncode == 0, r.stderr
    rows = [ln.split() for ln in r.stdout.splitlines()]
    assert ["BTC/USDT:USDT", "BTC-USDT-SWAP", "swap", "tick", "0.1", "lot", "0.01", "trading"] in rows
    r = venuelink("instruments", "binance", "--symbol", "BTC/USDT", "--json")
    got = _json.loads(r.stdout)
    assert r.returncode == 0 and [(g["symbol"], g["venue_symbol"], g["tick"], g["status"]) for g in got] == \
        [("BTC/USDT", "BTCUSDT", "0.01", "trading")]
    r = venuelink("instruments", "binance", "--symbol", "NOPE/USDT")
    assert r.returncode == 1 and "not listed by binance: NOPE/USDT" in r.stderr
    r = venuelink("instruments", "binance", "--config", str(tmp_path / "none.toml"))
    assert r.returncode == 2 and "venuelink instruments: error:" in r.stderr


def test_the_live_view_keeps_warnings_the_url_and_fits_the_terminal(monkeypatch):
    """Warnings are kept in the view (written to the terminal they vanish at the next redraw), the
    metrics URL stays in the header, the view fits the terminal, and a stopped view says so."""
    import logging as _logging
    from types import SimpleNamespace
    from venuelink.tools.run import StatusView
    view = StatusView(SimpleNamespace(runtimes={}), 0.0)
    view.metrics_url = "http://127.0.0.1:9464/metrics"
    view.capture_warnings()
    try:
        for k in range(7):
            _logging.getLogger("venuelink.session").warning("binance-public0: connect failed (%d)", k)
        lines = view.render()
    finally:
        view.release_warnings()
    assert "metrics http://127.0.0.1:9464/metrics" in lines[0] and "(Ctrl-C to stop)" in lines[0]
    shown = [ln for ln in lines if ln.startswith("  ! ")]
    assert len(shown) == StatusView.MAX_WARNINGS and shown[-1].endswith("connect failed (6)")
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LINES", "5")
    fitted = view.fit(lines + [f"venue line {k} " + "x" * 80 for k in range(10)])
    assert len(fitted) <= 4 and all(len(ln) <= 40 for ln in fitted)
    view.stopped = True
    assert "(stopped)" in view.render()[0]


def test_order_open_and_cancel_all(tmp_path, monkeypatch):
    """`order open` lists the account's open orders at the venue, whoever placed them;
    `order cancel-all` cancels them all and checks none is left."""
    import json as _json
    from venuelink.sim.server import running_simulator
    with running_simulator("binance", rate=0) as sim:            # a still market will do
        cfg = cli_config(tmp_path, sim)
        monkeypatch.setenv("VL_CLI_KEY", sim["api_key"])
        monkeypatch.setenv("VL_CLI_SECRET", sim["api_secret"])
        for cid, px in (("keep1", "20000"), ("keep2", "20001")):
            r = venuelink("order", "place", "--config", str(cfg), "--venue", "binance", "--symbol", "BTC/USDT",
                          "--side", "buy", "--qty", "0.001", "--price", px, "--client-id", cid)
            assert r.returncode == 0, r.stderr
        r = venuelink("order", "open", "--config", str(cfg), "--venue", "binance")
        assert r.returncode == 0, r.stderr
        got = _json.loads(r.stdout)["open"]
        assert sorted((o["client_order_id"], o["symbol"], o["price"]) for o in got) == \
            [("keep1", "BTC/USDT", "20000"), ("keep2", "BTC/USDT", "20001")]
        r = venuelink("order", "cancel-all", "--config", str(cfg), "--venue", "binance")
        assert r.returncode == 0 and _json.loads(r.stdout) == {"still_open": []}, r.stderr
        r = venuelink("order", "open", "--config", str(cfg), "--venue", "binance", "--symbol", "BTC/USDT")
        assert r.returncode == 0 and _json.loads(r.stdout) == {"open": []}
        r = venuelink("order", "open", "--config", str(cfg), "--venue", "binance", "--symbol", "BTCUSDT")
        assert r.returncode == 2 and "not a unified symbol" in r.stderr
