"""The spot-led circuit breaker and the flow hierarchy read the other side of the ledger (issue 19, item 3)
on a store imported the README way from the whole shared data, on two real events:

- 2024-08-05, the yen-carry unwind: BTC fell about 15% from 2 to 5 August while the US spot ETFs saw
  outflows (farside total −168.4 US$m on 5 August);
- 2025-10-10, the tariff-night crash: ETF totals −4.5 US$m on Friday 10 October, −326.4 on Monday 13.

Each test first states the data's own numbers (read from the source file or the store's raw records), then
what the engine reads, and checks nothing is read before it was public.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from tests.conftest import shared_data_dir
from typer.testing import CliRunner

from perpscope.assemble.flows import panel_flow_inputs
from perpscope.assemble.panel import market_panel
from perpscope.cli.main import app
from perpscope.core.format import usd_text
from perpscope.regimes import circuit_breakers, flow_hierarchy, reading
from perpscope.regimes.flow import FLOW_INPUT_COLUMNS, FlowInputs
from perpscope.store import Lake
from perpscope.store.reader import read

pytestmark = pytest.mark.shared
H = 3_600_000


def t(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def farside_totals() -> dict[str, float]:
    """The farside daily ETF totals, US$m, by ISO date (the source file, not the store)."""
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data is not beside this checkout")
    [f] = (shared / "farside_btc_etf_haturatu").glob("*.csv.gz")
    raw = pl.read_csv(f, infer_schema_length=0).with_columns(
        pl.col("Date").str.to_date("%d %b %Y").cast(pl.String), pl.col("Total").cast(pl.Float64)
    )
    return dict(zip(raw["Date"], raw["Total"], strict=True))


def signed(x: float) -> str:
    return usd_text(x) if x < 0 else f"+{usd_text(x)}"


def panel_to(lake: Lake, start: str, end: str) -> pl.DataFrame:
    """The panel ``perpscope regimes BTCUSDT --venue all --every 4h`` reads over ``[start, end)``."""
    return market_panel(lake, "all", "BTCUSDT", t(start), t(end), 4 * H).priced


def spot_led(panel: pl.DataFrame, flows: FlowInputs) -> dict:  # type: ignore[type-arg]
    cb = circuit_breakers(panel, flows=flows)
    [row] = cb.filter(pl.col("check") == "spot_led_flow").to_dicts()
    return row


@pytest.fixture(scope="module")
def lake(shared_store: Path) -> Lake:
    return Lake(shared_store)


def test_2024_08_05_breaker_reads_etf_outflows_only_once_public(lake: Lake) -> None:
    total = farside_totals()
    # the data: 5 August −168.4 US$m; the 5 sessions to Friday 2 August and to Monday 5 August
    assert total["2024-08-05"] == -168.4
    to_fri = sum(total[d] for d in ("2024-07-29", "2024-07-30", "2024-07-31", "2024-08-01", "2024-08-02"))
    to_mon = sum(total[d] for d in ("2024-07-30", "2024-07-31", "2024-08-01", "2024-08-02", "2024-08-05"))
    assert to_fri < 0 and to_mon < 0  # outflows both ways: no institutional bid under the crash

    # the bar 16:00–20:00 UTC ends at the 5 August session close (16:00 New York): the day is public
    panel = panel_to(lake, "2024-07-01", "2024-08-05T20:00")
    flows = panel_flow_inputs(lake, panel)
    row = spot_led(panel, flows)
    assert f"ETF 5-day flow {signed(to_mon * 1e6)}" in row["evidence"]
    # one bar earlier (ends 16:00 UTC) Monday's flow was not yet known: the sum ends on Friday
    early = panel.filter(pl.col("ts_ms").dt.epoch("ms") < t("2024-08-05T12:00"))
    row_early = spot_led(early, panel_flow_inputs(lake, early))
    assert f"ETF 5-day flow {signed(to_fri * 1e6)}" in row_early["evidence"]
    # the panel has spot volume (the spot klines' base volume valued at the close), so the panel's own
    # check decides and the flows are evidence beside it: the same answer as without them
    assert "read from the flows" not in row["evidence"]
    [plain] = circuit_breakers(panel).filter(pl.col("check") == "spot_led_flow")["engaged"].to_list()
    assert row["engaged"] is plain


def test_2025_10_10_breaker_reads_perp_spot_volume_and_stablecoins(lake: Lake) -> None:
    total = farside_totals()
    assert (total["2025-10-10"], total["2025-10-13"]) == (-4.5, -326.4)
    five = sum(total[d] for d in ("2025-10-06", "2025-10-07", "2025-10-08", "2025-10-09", "2025-10-10"))
    # the data: Binance BTCUSDT perp and spot volume (BTC) over 10 October, 1h candles
    day = {"interval_ms": H, "price_type": "trade"}
    vol = {
        c: read(
            lake,
            "candles",
            venue="binance",
            symbol=c,
            start_ms=t("2025-10-10"),
            end_ms=t("2025-10-11"),
            where=day,
        )["volume_base"].sum()
        for c in ("BTC-USDT-PERP", "BTC-USDT-SPOT")
    }
    ratio = vol["BTC-USDT-PERP"] / vol["BTC-USDT-SPOT"]
    assert ratio > 1  # perps out-traded spot on the crash day

    panel = panel_to(lake, "2025-09-01", "2025-10-11")  # last bar 20:00–24:00 of 10 October
    flows = panel_flow_inputs(lake, panel)
    fe = flows.at(t("2025-10-11"))
    assert fe.perp_spot_ratio == pytest.approx(ratio, rel=1e-9)
    assert fe.etf_5d_usd == pytest.approx(five * 1e6)
    assert fe.stablecoin_7d is not None and fe.cme_lev_net_base is not None
    row = spot_led(panel, flows)
    assert fe.text() in row["evidence"]
    # in October 2025 the panel has spot volume (CoinGlass spot taker series): the panel decides the
    # check, the flows are evidence beside it and do not change its answer
    assert row["evidence"].startswith("perp/spot volume") and "read from the flows" not in row["evidence"]
    assert row["engaged"] is spot_led(panel, FlowInputs())["engaged"]
    [plain] = circuit_breakers(panel).filter(pl.col("check") == "spot_led_flow")["engaged"].to_list()
    assert row["engaged"] is plain
    # the hierarchy's per-bar inputs at the last bar equal the evidence public at its end
    fh = flow_hierarchy(panel, flows=flows).filter(pl.col("canonical") == "BTC-USDT-PERP").tail(1)
    assert set(FLOW_INPUT_COLUMNS) <= set(fh.columns)
    assert fh["etf_5d_usd"][0] == pytest.approx(five * 1e6)
    assert fh["perp_spot_ratio_1d"][0] == pytest.approx(ratio, rel=1e-9)


def test_missing_inputs_are_named_not_read_as_not_engaged(lake: Lake) -> None:
    # Jan–Mar 2021: before the spot klines begin (2021-04-03, SOURCES.md §13) the panel has no spot
    # volume, so only the flow inputs could tell, and none is given
    panel = panel_to(lake, "2021-01-01", "2021-03-01")
    assert panel.height and (
        "spot_volume_usd" not in panel.columns or panel["spot_volume_usd"].null_count() == panel.height
    )
    row = spot_led(panel, FlowInputs())
    assert row["engaged"] is None
    for name in ("ETF flows", "stablecoin supply", "perp/spot volume", "CME positioning"):
        assert f"{name} (no data)" in row["evidence"]
    r = reading(panel, flows=FlowInputs())
    assert r["flow_evidence"].str.contains("missing: ETF flows").all()


def test_regimes_command_shows_the_flows_at_80_columns(shared_store: Path) -> None:
    args = ["--data-dir", str(shared_store), "regimes", "BTCUSDT", "--venue", "all"]
    res = CliRunner().invoke(
        app, [*args, "--from", "2025-09-01", "--to", "2025-10-11"], env={"COLUMNS": "80"}, terminal_width=80
    )
    assert res.exit_code == 0, res.output
    # the cells wrap: read the words in order with the table's rules taken out
    words = " ".join(re.sub(r"[│┃┏┓┗┛┡┩└┘┌┐├┤━─╇┳┻┼]", " ", res.output).split())
    assert "flows ETF 5-day flow" in words and "flows public at 2025-10-11 00:00: ETF 5-day flow" in words
    assert max(len(line) for line in res.output.splitlines()) <= 80
