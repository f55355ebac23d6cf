"""Built-in formats for the other side of the ledger: US spot Bitcoin ETF flows (Farside), stablecoin supply
(DefiLlama) and CME Bitcoin positioning (CFTC TFF).

The data is read from ``../shared/data`` only. Each test states the data's own fact first — read from
the source file with plain polars, or quoted from SOURCES.md §10–12 — and then what the import stored.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from perpscope.core.errors import InputError
from perpscope.records import FUND_FLOWS
from perpscope.records.flows import cftc_release_ms
from perpscope.venues.base import Parsed, first_line
from perpscope.venues.csv import FORMATS, MappedFormat, NotImportableError, spec_from_dict
from perpscope.venues.registry import sniff

pytestmark = pytest.mark.shared
DAY = 86_400_000
ETF = "farside_btc_etf_haturatu/btc_etf_flows_daily_usdm_20240111_20260821.csv.gz"
USDT = "defillama_stablecoins_ssalonisingghal/usdt_circulating_daily_20171129_20260710.csv.gz"
USDC = "defillama_stablecoins_ssalonisingghal/usdc_circulating_daily_20180911_20260710.csv.gz"
CFTC = "cftc_tff_bitcoin_cotflow/cme_bitcoin_tff_fut_opt_combined_weekly_20180410_20260623.csv.gz"


def day_ms(d: str) -> int:
    return int(datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp() * 1000)


def parse(path: Path) -> list[Parsed]:
    fmt = sniff(path)
    assert fmt is not None, path
    return fmt.parse(path)


def frame(parsed: list[Parsed]) -> pl.DataFrame:
    return pl.concat([p.frame for p in parsed]).with_columns(t=pl.col("ts_ms").dt.epoch("ms"))


def test_etf_flows_per_fund_and_total(shared_data: Path) -> None:
    raw = pl.read_csv(shared_data / ETF, infer_schema_length=0)
    # the data's facts (SOURCES.md §10): totals on key days, US$ millions
    total = dict(zip(raw["Date"], raw["Total"], strict=True))
    assert (total["05 Aug 2024"], total["13 Oct 2025"]) == ("-168.4", "-326.4")
    parsed = parse(shared_data / ETF)
    assert {p.record for p in parsed} == {FUND_FLOWS}
    df = frame(parsed)
    tot = df.filter(pl.col("symbol") == "TOTAL")
    at = dict(zip(tot["t"], tot["flow_usd"], strict=True))
    assert at[day_ms("2024-08-05")] == pytest.approx(-168.4e6)
    assert at[day_ms("2025-10-13")] == pytest.approx(-326.4e6)
    assert at[day_ms("2025-08-14")] == pytest.approx(230.8e6)
    # the funds of a day sum to its total (±0.15 US$m, SOURCES.md §10)
    sums = df.filter(pl.col("symbol") != "TOTAL").group_by("t").agg(pl.col("flow_usd").sum())
    both = sums.join(tot.select("t", total="flow_usd"), on="t")
    assert both.height == tot.height
    assert (both["flow_usd"] - both["total"]).abs().max() <= 0.151e6  # type: ignore[operator]
    assert {"IBIT", "GBTC", "BTC", "MSBT"} <= set(df["symbol"])
    assert set(df["venue"]) == {"us_spot_etf"} and set(df["canonical"]) == {"BTC-USD-SPOT"}


def test_etf_holidays_are_no_rows_not_zero_flows(shared_data: Path) -> None:
    raw = pl.read_csv(shared_data / ETF, infer_schema_length=0)
    # the data: 4 Jul 2024 (US Independence Day) is a row with every fund empty and Total 0.0
    hol = raw.filter(pl.col("Date") == "04 Jul 2024").row(0, named=True)
    assert hol["Total"] == "0.0" and all(hol[c] is None for c in raw.columns if c not in ("Date", "Total"))
    df = frame(parse(shared_data / ETF))
    days = set(df["t"].to_list())
    assert day_ms("2024-07-04") not in days and day_ms("2024-12-25") not in days
    assert day_ms("2024-07-05") in days
    # no weekend rows at all
    weekdays = {datetime.fromtimestamp(t / 1000, UTC).weekday() for t in days}
    assert weekdays <= {0, 1, 2, 3, 4}
    # the holiday rows (Total 0.0, all funds empty) are exactly the days skipped
    fund_cols = [c for c in raw.columns if c not in ("Date", "Total")]
    empty = raw.filter(pl.all_horizontal([pl.col(c).is_null() for c in fund_cols]))
    assert set(empty["Total"]) == {"0.0"}
    skipped = {datetime.strptime(d, "%d %b %Y").date() for d in empty["Date"]}
    stored = {datetime.fromtimestamp(t / 1000, UTC).date() for t in days}
    file_days = {datetime.strptime(d, "%d %b %Y").date() for d in raw["Date"]}
    assert file_days - stored == skipped and date(2024, 7, 4) in skipped


def test_stablecoin_supply_per_coin(shared_data: Path) -> None:
    # the data (SOURCES.md §11): USDT/USDC 114.58/32.83 B on 2024-08-05, 177.42/75.33 B on 2025-10-10
    for rel, coin, on in ((USDT, "USDT", (114.58e9, 177.42e9)), (USDC, "USDC", (32.83e9, 75.33e9))):
        raw = pl.read_csv(shared_data / rel)
        assert raw.height == frame(parse(shared_data / rel)).height
        df = frame(parse(shared_data / rel))
        assert set(df["symbol"]) == {coin} and set(df["canonical"]) == {f"{coin}-USD-SPOT"}
        at = dict(zip(df["t"], df["supply_usd"], strict=True))
        assert at[day_ms("2024-08-05")] == pytest.approx(on[0], rel=1e-4)
        assert at[day_ms("2025-10-10")] == pytest.approx(on[1], rel=1e-4)


def test_a_supply_file_that_does_not_name_its_coin_is_refused(shared_data: Path, tmp_path: Path) -> None:
    other = tmp_path / "supply.csv"
    other.write_bytes(gzip.decompress((shared_data / USDT).read_bytes()))
    fmt = sniff(other)
    assert fmt is not None and fmt.name == "defillama_stablecoin_supply"
    with pytest.raises(NotImportableError, match="coin is unknown") as ei:
        fmt.parse(other)
    assert isinstance(ei.value, InputError) and "usdt_" in (ei.value.hint or "")


def test_cme_positioning_in_btc_stamped_at_release(shared_data: Path) -> None:
    raw = pl.read_csv(shared_data / CFTC)
    # the data (SOURCES.md §12): 2025-10-07 oi 31,223 contracts, leveraged funds 3,221 long / 17,275 short
    r = raw.filter(pl.col("date") == "2025-10-07").row(0, named=True)
    assert (r["oi"], r["lev_long"], r["lev_short"]) == (31223, 3221, 17275)
    # leveraged funds net short 17–18k contracts in mid-2024 (the ETF basis trade)
    mid = raw.filter(pl.col("date").is_between(pl.lit("2024-05-01"), pl.lit("2024-07-31")))
    assert ((mid["lev_long"] - mid["lev_short"]) < -10_000).all()
    df = frame(parse(shared_data / CFTC))
    assert df.height == raw.height
    release = cftc_release_ms(day_ms("2025-10-07"))
    row = df.filter(pl.col("t") == release).row(0, named=True)
    assert datetime.fromtimestamp(release / 1000, UTC) == datetime(2025, 10, 10, 21, tzinfo=UTC)  # Friday
    assert row["oi_base"] == 31223 * 5
    assert (row["lev_long_base"], row["lev_short_base"]) == (3221 * 5, 17275 * 5)
    assert (row["venue"], row["symbol"], row["canonical"]) == ("cme", "133741", "BTC-AGG-PERP")
    # every row is a Friday 21:00 UTC release of the week it describes: nothing is stamped at its as-of day
    # (a Tuesday; a Monday in weeks with a Tuesday holiday, e.g. 2023-07-03 → Friday 2023-07-07)
    stamps = [datetime.fromtimestamp(t / 1000, UTC) for t in df["t"]]
    assert {(s.weekday(), s.hour) for s in stamps} == {(4, 21)}
    asof = [day_ms(d) for d in raw["date"]]
    assert sorted(df["t"]) == [cftc_release_ms(a) for a in asof]
    assert all(0 < cftc_release_ms(a) - a < 5 * DAY for a in asof)
    assert cftc_release_ms(day_ms("2023-07-03")) == day_ms("2023-07-07") + 21 * 3_600_000
    assert (df["am_long_base"] <= df["oi_base"]).all()


def test_a_tff_file_of_an_unnamed_market_is_refused(shared_data: Path, tmp_path: Path) -> None:
    other = tmp_path / "positions.csv"
    other.write_bytes(gzip.decompress((shared_data / CFTC).read_bytes()))
    fmt = sniff(other)
    assert fmt is not None and fmt.name == "cftc_tff_positions_other"
    with pytest.raises(NotImportableError, match="contract size"):
        fmt.parse(other)


def test_sessions_key_names_a_real_calendar() -> None:
    block = {
        "type": "fund_flows",
        "venue": "x",
        "symbol": "X",
        "base": "BTC",
        "quote": "USD",
        "market": "spot",
        "time": {"column": "d", "unit": "iso"},
        "sessions": "NOPE",
        "fields": {"flow_usd": "v"},
    }
    with pytest.raises(InputError, match="exchange calendar"):
        spec_from_dict({"format": {"name": "t", "description": "t"}, "record": [block]}, "t.toml")
    block["sessions"] = "XNYS"
    spec = spec_from_dict({"format": {"name": "t", "description": "t"}, "record": [block]}, "t.toml")
    assert spec.records[0].sessions == "XNYS"


def test_common_calendars_are_exchange_calendars_names() -> None:
    # the names the spec accepts without importing exchange_calendars must be real calendars of it
    import exchange_calendars

    from perpscope.venues.csv.spec import COMMON_CALENDARS

    assert set(COMMON_CALENDARS) <= set(exchange_calendars.get_calendar_names())


def test_reading_the_builtin_formats_does_not_import_exchange_calendars() -> None:
    # a fresh interpreter: the import command pays for the calendars only when a flows file needs them
    mods = "('exchange_calendars', 'pandas')"
    code = f"import sys, perpscope.venues.csv; print(*(m in sys.modules for m in {mods}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_only_named_formats_come_before_header_only_ones() -> None:
    mapped = [f for f in FORMATS if isinstance(f, MappedFormat)]
    named = [bool(f.spec.files) for f in mapped]
    assert named == sorted(named, reverse=True)
    assert first_line  # the sniffing helper the formats share
