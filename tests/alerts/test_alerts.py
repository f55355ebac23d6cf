"""Alert rules on real Binance data (the bundled demo files are the oracle), cooldown and
de-duplication, and webhook delivery to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from perpscope.alerts import (
    Alert,
    DeliverySettings,
    Outbox,
    OutboxBusy,
    Rule,
    Webhook,
    evaluate,
    parse_config,
    payload,
    send,
)
from perpscope.cli.demo import demo_data_dir
from perpscope.core.errors import InputError
from perpscope.core.time import HOUR_MS
from perpscope.metrics import build_panel


@pytest.fixture(scope="module")
def btc_panel(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    from perpscope.ingest.importer import import_paths
    from perpscope.store import Lake
    from perpscope.store.reader import read

    lake = Lake(tmp_path_factory.mktemp("alerts") / "data")
    import_paths(
        [
            demo_data_dir() / "funding_rate_BTC_ETH_SOL_XRP_BNB_DOGE_20260112_20260320.csv.gz",
            demo_data_dir() / "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20251201_20260319.csv.gz",
        ],
        lake,
    )
    c = read(lake, "candles", venue="binance", symbol="BTC-USDT-PERP")
    f = read(lake, "funding", venue="binance", symbol="BTC-USDT-PERP")
    return build_panel(HOUR_MS, candles=c, funding=f).filter(pl.col("close").is_not_null())


def _funding_file() -> pl.DataFrame:
    with gzip.open(demo_data_dir() / "funding_rate_BTC_ETH_SOL_XRP_BNB_DOGE_20260112_20260320.csv.gz") as fh:
        return pl.read_csv(fh.read()).filter(pl.col("symbol") == "BTCUSDT").sort("timestamp")


def test_funding_cross_fires_on_the_settlement_that_flips_sign(btc_panel: pl.DataFrame) -> None:
    raw = _funding_file()
    r = raw.get_column("funding_rate").to_list()
    i = next(k for k in range(1, len(r)) if r[k] != 0 and r[k - 1] != 0 and (r[k] > 0) != (r[k - 1] > 0))
    t_settle = int(raw["timestamp"][i])
    rule = Rule("cross", "funding_cross", "binance", "BTC-USDT-PERP")
    ts = btc_panel.get_column("ts_ms").dt.epoch("ms")
    fired = []
    for n in range(1, btc_panel.height + 1):
        if int(ts[n - 1]) > t_settle + 2 * HOUR_MS:
            break
        fired += evaluate(rule, btc_panel.head(n))
    assert len(fired) == 1
    a = fired[0]
    assert a.values["previous"] == pytest.approx(r[i - 1]) and a.values["rate"] == pytest.approx(r[i])
    # the bar ending at the settlement (Binance stamps settlements a few ms after the hour)
    assert t_settle - HOUR_MS - 1_000 <= a.ts_ms <= t_settle


def _bars(oi: list[float], close: list[float] | None = None) -> pl.DataFrame:
    n = len(oi)
    return pl.DataFrame(
        {
            "ts_ms": pl.Series([k * HOUR_MS for k in range(n)]).cast(pl.Datetime("ms", "UTC")),
            "oi_usd": oi,
            "close": close or [100.0] * n,
            "liq_usd": [0.0] * n,
            "liq_burst": [False] * n,
        }
    )


def test_oi_drop_threshold() -> None:
    # hand-computed oracle: 100 → 90 over 4 hours is a 10 % fall
    p = _bars([100.0, 100.0, 100.0, 95.0, 90.0])
    assert evaluate(Rule("oi", "oi_drop", "v", "S", {"window": "4h", "pct": 9.9}), p)
    assert not evaluate(Rule("oi", "oi_drop", "v", "S", {"window": "4h", "pct": 10.1}), p)
    hit = evaluate(Rule("oi", "oi_drop", "v", "S", {"window": "4h", "pct": 5}), p)[0]
    assert hit.values["oi_change"] == pytest.approx(-0.10)


def test_funding_rules_read_the_sampled_rate_where_there_is_no_settlement() -> None:
    # a scope of several venues has only the OI-weighted sampled rate per 8h: APR = rate × 3 × 365
    p = _bars([1.0] * 4).with_columns(pl.Series("funding_sampled_8h", [0.0002, 0.0003, -0.0001, -0.0001]))
    hit = evaluate(Rule("f", "funding_extreme", "all", "S", {"apr": 10}), p)
    assert hit and hit[0].values["funding_apr"] == pytest.approx(-0.0001 * 3 * 365)
    assert "per 8h (sampled)" in hit[0].text
    assert not evaluate(Rule("f", "funding_extreme", "all", "S", {"apr": 11}), p)
    # the sign flipped on the third bar, not the fourth
    cross = Rule("c", "funding_cross", "all", "S")
    assert evaluate(cross, p.head(3))[0].values == {"previous": 0.0003, "rate": -0.0001}
    assert not evaluate(cross, p)


def test_alerts_check_reads_through_the_market_view_and_says_what_it_lacks(tmp_path: Path) -> None:
    from perpscope.cli.main import app
    from perpscope.ingest.importer import import_paths
    from perpscope.store import Lake

    data = tmp_path / "data"
    klines = "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20251201_20260319.csv.gz"
    import_paths([demo_data_dir() / klines], Lake(data))
    cfg = tmp_path / "alerts.toml"
    cfg.write_text(
        '[[rule]]\nname = "oi"\nkind = "oi_drop"\nvenue = "binance"\nsymbol = "BTCUSDT"\n'
        '[[rule]]\nname = "nowhere"\nkind = "liq_burst"\nvenue = "okx"\nsymbol = "BTCUSDT"\n'
    )
    r = CliRunner(env={"COLUMNS": "300"}).invoke(
        app, ["--data-dir", str(data), "alerts", "check", "-c", str(cfg)]
    )
    assert r.exit_code == 0, r.output
    assert "alerts read BTC-USDT-PERP · binance: newest 1h bar 2026-03-19 18:00 UTC" in r.stderr
    assert "price: binance BTC-USDT-PERP 1h" in r.stderr  # the provenance footnotes
    assert "rule 'oi' (oi_drop) cannot fire" in r.stderr and "has no oi_base / oi_usd" in r.stderr
    assert "rule 'nowhere': no candles of BTCUSDT for venue scope okx" in r.stderr
    assert "no rule fired (2 checked: oi, nowhere)" in r.stderr  # a quiet check says so


def test_hot_zone_and_regime_change() -> None:
    p = _bars([1.0, 1.0], close=[100.0, 101.0])
    zones = pl.DataFrame(
        {"side": ["short"], "rank": [1], "price_lo": [100.5], "price_hi": [102.0], "usd": [5e6]}
    )
    assert evaluate(Rule("z", "hot_zone", "v", "S"), p, zones=zones)[0].values["side"] == "short"
    assert not evaluate(Rule("z", "hot_zone", "v", "S"), p.head(1), zones=zones)
    labels = pl.DataFrame(
        {"ts_ms": [0, HOUR_MS], "regime": ["neutral", "flush"], "evidence": ["", "liq z 4.1"]}
    )
    a = evaluate(Rule("r", "regime_change", "v", "S"), p, regimes=labels)[0]
    assert a.title.endswith("neutral → flush") and "liq z 4.1" in a.text


def test_cooldown_and_deduplication(tmp_path: Path) -> None:
    def admit(ob: Outbox, a: Alert) -> bool:
        return bool(ob.admit([(a, 4 * HOUR_MS)], {"t": lambda a: {"k": a.key}}, 0.0))

    a0 = Alert("r", "k", "v", "S", 0, "t", "x")
    with Outbox(tmp_path / "state.sqlite") as ob:
        assert admit(ob, a0)
        assert not admit(ob, a0)  # same event again: de-duplicated
        assert not admit(ob, Alert("r", "k", "v", "S", 3 * HOUR_MS, "t", "x"))  # in cooldown
    with Outbox(tmp_path / "state.sqlite") as ob:  # … and both survive a restart
        assert not admit(ob, a0)
        assert not admit(ob, Alert("r", "k", "v", "S", 3 * HOUR_MS + 1, "t", "x"))
        assert admit(ob, Alert("r", "k", "v", "S", 4 * HOUR_MS, "t", "x"))
        assert admit(ob, Alert("other", "k", "v", "S", 4 * HOUR_MS, "t", "x"))  # per rule
        assert ob.counts() == {"pending": 3}  # one owed delivery per admitted alert and target
        with pytest.raises(OutboxBusy, match="another process"):  # one `alerts run` per state file
            Outbox(tmp_path / "state.sqlite")
    Outbox(tmp_path / "state.sqlite").close()  # … released on close


def test_config_errors_say_what_is_wrong() -> None:
    cfg = parse_config(
        '[[rule]]\nkind = "oi_drop"\nvenue = "binance"\nsymbol = "BTCUSDT"\npct = 3\n'
        '[[webhook]]\nurl = "http://127.0.0.1:9/x"\nformat = "discord"\n'
    )
    assert cfg.rules[0].param("pct") == 3 and cfg.rules[0].param("window") == "4h"
    with pytest.raises(InputError, match="kind must be one of"):
        parse_config('[[rule]]\nkind = "moon"\nvenue = "b"\nsymbol = "S"\n')
    with pytest.raises(InputError, match=r"rule #1 \(oi_drop\): unknown field 'threshold'"):
        parse_config('[[rule]]\nkind = "oi_drop"\nvenue = "b"\nsymbol = "S"\nthreshold = 1\n')
    with pytest.raises(InputError, match=r"webhook #1 \(telegram\): field 'chat_id' is required"):
        parse_config('[[webhook]]\nurl = "https://x"\nformat = "telegram"\n')


@pytest.mark.parametrize(
    ("body", "says"),
    [
        # issue 18: a number written as text was accepted
        (
            'name = "btc z"\nkind = "funding_extreme"\nz = "three"',
            "rule #1 'btc z' (funding_extreme): field 'z': Input should be a valid number (found 'three')",
        ),
        ('kind = "oi_drop"\npct = "5"', "rule #1 (oi_drop): field 'pct': Input should be a valid number"),
        ('kind = "oi_drop"\nwindow = "4 hours"', "field 'window': expected an interval like"),
        ('kind = "liq_burst"\nusd = -5', "field 'usd': Input should be greater than 0"),
        ('kind = "hot_zone"\nzones = 2.5', "field 'zones': Input should be a valid integer"),
        ('kind = "funding_cross"\ncooldown = 4', "field 'cooldown': Input should be a valid string"),
        ('kind = "liq_burst"\nsymbol = ""', "field 'symbol': String should have at least 1 character"),
        ('kind = "funding_extreme"\nz = nan', "field 'z': must be a finite number"),
    ],
)
def test_config_values_are_type_checked_and_the_message_names_rule_and_field(body: str, says: str) -> None:
    text = '[[rule]]\nvenue = "binance"\n' + body + "\n"
    if "symbol" not in body:
        text += 'symbol = "BTCUSDT"\n'
    with pytest.raises(InputError) as e:
        parse_config(text, "alerts.toml")
    assert str(e.value).startswith("alerts.toml: ") and says in str(e.value)


def test_config_of_the_second_rule_and_the_file_level_fields() -> None:
    ok = '[[rule]]\nkind = "funding_cross"\nvenue = "b"\nsymbol = "S"\n'
    with pytest.raises(InputError, match=r"rule #2 'late' \(oi_drop\): field 'pct'"):
        parse_config(ok + '[[rule]]\nname = "late"\nkind = "oi_drop"\nvenue = "b"\nsymbol = "S"\npct = "x"\n')
    with pytest.raises(InputError, match="rule #1: field 'kind' is required"):
        parse_config('[[rule]]\nvenue = "b"\nsymbol = "S"\n')
    with pytest.raises(InputError, match="config: field 'poll_seconds': Input should be greater than 0"):
        parse_config("poll_seconds = 0\n" + ok)
    with pytest.raises(InputError, match=r"config: field 'delivery\.attempts'"):
        parse_config("[delivery]\nattempts = 'many'\n")
    with pytest.raises(InputError, match="config: unknown field 'webhooks'"):
        parse_config('[[webhooks]]\nurl = "https://x"\n')
    text = "state = 'st.sqlite'\n[delivery]\nattempts = 3\ndeadline_s = 2\n"
    cfg = parse_config(text, "/etc/a/alerts.toml")
    assert cfg.delivery.attempts == 3 and cfg.delivery.deadline_s == 2.0
    assert cfg.state == Path("/etc/a/st.sqlite")


def test_config_errors_never_show_a_webhook_secret() -> None:
    token = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"
    with pytest.raises(InputError) as e:
        parse_config(f'[[webhook]]\nurl = "ftp://api.telegram.org/bot{token}/x"\nformat = "telegram"\n')
    assert "webhook #1 (telegram): field 'url': must start with http:// or https://" in str(e.value)
    assert token not in str(e.value) and token[:12] not in str(e.value)
    secret = "T0001/B0001/XXXXXXXXXXXXXXXXXXXXXXXX"
    with pytest.raises(InputError) as e:
        parse_config(f'[[webhook]]\nurl = "https://hooks.slack.com/services/{secret}"\nformat = "teams"\n')
    assert "field 'format'" in str(e.value) and "XXXX" not in str(e.value)
    hook = parse_config(f'[[webhook]]\nurl = "https://hooks.slack.com/services/{secret}"\nformat = "slack"\n')
    assert "XXXX" not in repr(hook) and hook.webhooks[0].where == "slack https://hooks.slack.com/***"


@pytest.fixture
def hook_server() -> Iterator[tuple[str, list[dict[str, object]]]]:
    got: list[dict[str, object]] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"path": self.path, "json": json.loads(body), "key": self.headers["Idempotency-Key"]})
            self.send_response(204 if self.path != "/fail" else 500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", got
    finally:
        srv.shutdown()
        srv.server_close()


def test_webhook_formats_delivered(hook_server) -> None:  # type: ignore[no-untyped-def]
    url, got = hook_server
    a = Alert("r", "liq_burst", "binance", "BTC-USDT-PERP", 0, "burst", "$5M liquidated")
    hooks = [
        Webhook(f"{url}/slack", "slack"),
        Webhook(f"{url}/discord", "discord"),
        Webhook(f"{url}/tg", "telegram", "42"),
        Webhook(f"{url}/fail", "json"),
    ]
    lines: list[str] = []
    once = DeliverySettings(attempts=2, backoff_s=0.01)
    errors = send([a], hooks, console=lines.append, settings=once)
    assert lines == ["[binance BTC-USDT-PERP] burst — $5M liquidated"]
    by = {g["path"]: g["json"] for g in got}
    assert by["/slack"] == {"text": lines[0]}
    assert by["/discord"] == {"content": lines[0]}
    assert by["/tg"] == {"chat_id": "42", "text": lines[0]}
    assert by["/fail"]["key"] == a.key  # type: ignore[index]
    assert [g["path"] for g in got].count("/fail") == 2  # a 5xx is tried again, up to the attempts
    assert len(errors) == 1 and "HTTP 500" in errors[0]
    assert "gave up on r|binance|BTC-USDT-PERP|0 after 2 attempt(s)" in errors[0]
    assert "webhook #4 (json http://127.0.0.1:" in errors[0] and "/fail" not in errors[0]
    assert payload(a, Webhook("http://x", "discord"))["content"] == lines[0]


def test_cli_alerts_test_fires_a_sample(hook_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from perpscope.cli.main import app

    url, got = hook_server
    cfg = tmp_path / "alerts.toml"
    cfg.write_text(f'[[webhook]]\nurl = "{url}/s"\nformat = "slack"\n')
    r = CliRunner().invoke(app, ["alerts", "test", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "test alert" in r.output and len(got) == 1 and "test alert" in got[0]["json"]["text"]  # type: ignore[index]
