"""The column-mapping mechanism on small hand-written exports: what it computes and how it fails.

Expected values are worked out by hand from the CSV text in each test.
"""

from __future__ import annotations

import gzip
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from perpscope.core.errors import InputError
from perpscope.records import FUNDING, OPEN_INTEREST
from perpscope.venues.base import first_line
from perpscope.venues.csv import MappedFormat, NotImportableError, load_mapping


def ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    body = textwrap.dedent(text).lstrip()
    if name.endswith(".gz"):
        p.write_bytes(gzip.compress(body.encode()))
    else:
        p.write_text(body, encoding="utf-8")
    return p


FUNDING_MAP = """
[format]
name = "my_funding_export"
description = "funding in percent from some dashboard"
header = ["time", "coin", "exchange", "funding_pct"]

[[record]]
type = "funding"
venue = { column = "exchange", case = "lower" }
symbol = { template = "{coin}USDT" }
base = { column = "coin" }
quote = "USDT"
time = { column = "time", unit = "iso" }
interval = "8h"

[record.fields]
rate = { column = "funding_pct", scale = 0.01 }
"""


def test_user_mapping_percent_scale_iso_time_and_template(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "m.toml", FUNDING_MAP))
    csv = write(
        tmp_path,
        "f.csv",
        """
        time,coin,exchange,funding_pct
        2025-10-10T16:00:00Z,BTC,Binance,0.01
        2025-10-11 00:00:00,BTC,Binance,-0.0325
        2025-10-11 08:00,ETH,OKX,0.005
        """,
    )
    assert m.sniff(csv, first_line(csv))
    [p] = m.parse(csv)
    assert p.record is FUNDING
    rows = {r.symbol + str(r.ts_ms): r for r in FUNDING.to_records(p.frame)}
    a = rows[f"BTCUSDT{ms(2025, 10, 10, 16)}"]
    assert (a.venue, a.canonical, a.interval_ms) == ("binance", "BTC-USDT-PERP", 8 * 3_600_000)
    assert a.rate == pytest.approx(0.0001)  # 0.01 % → 0.0001
    assert rows[f"BTCUSDT{ms(2025, 10, 11)}"].rate == pytest.approx(-0.000325)
    e = rows[f"ETHUSDT{ms(2025, 10, 11, 8)}"]
    assert (e.venue, e.canonical, e.rate) == ("okx", "ETH-USDT-PERP", pytest.approx(0.00005))


def test_unknown_column_names_mapping_csv_and_columns(tmp_path: Path) -> None:
    m = load_mapping(
        write(tmp_path, "m.toml", FUNDING_MAP.replace('"funding_pct", scale', '"fundingpct", scale'))
    )
    csv = write(tmp_path, "f.csv", "time,coin,exchange,funding_pct\n2025-10-10,BTC,Binance,0.01\n")
    with pytest.raises(InputError) as ei:
        m.parse(csv)
    e = ei.value
    assert e.path == str(csv) and e.row == 1
    assert "fundingpct" in e.problem and "m.toml" in e.problem and "funding_pct" in e.problem


def test_malformed_number_names_the_line(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "m.toml", FUNDING_MAP))
    csv = write(
        tmp_path,
        "f.csv",
        """
        time,coin,exchange,funding_pct
        2025-10-10 00:00,BTC,Binance,0.01
        2025-10-10 08:00,BTC,Binance,0.01
        2025-10-10 16:00,BTC,Binance,0,0100
        """,
    )
    with pytest.raises(InputError) as ei:  # a ragged line: the reader names it
        m.parse(csv)
    assert ei.value.row == 4
    csv.write_text(csv.read_text().replace("0,0100", "1.2.3"))
    with pytest.raises(InputError) as ei:
        m.parse(csv)
    assert ei.value.row == 4 and "funding_pct" in ei.value.problem and "'1.2.3'" in ei.value.problem


def test_bad_time_names_the_line(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "m.toml", FUNDING_MAP))
    csv = write(
        tmp_path, "f.csv", "time,coin,exchange,funding_pct\n2025-10-10,BTC,Binance,1\n10/11/2025,BTC,X,1\n"
    )
    with pytest.raises(InputError) as ei:
        m.parse(csv)
    assert ei.value.row == 3 and "10/11/2025" in ei.value.problem


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "m.toml", FUNDING_MAP))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        m.parse(empty)
    gz = write(tmp_path, "hdr.csv.gz", "time,coin,exchange,funding_pct\n")
    with pytest.raises(InputError, match="no data rows"):
        m.parse(gz)


def test_wrong_header_is_refused(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "m.toml", FUNDING_MAP))
    csv = write(tmp_path, "f.csv", "time,coin,venue,funding_pct\n2025-10-10,BTC,Binance,1\n")
    assert not m.sniff(csv, first_line(csv))
    with pytest.raises(InputError, match="expects the header") as ei:
        m.parse(csv)
    assert ei.value.row == 1


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('unit = "iso"', 'unit = "minutes"'), "`unit` must be one of"),
        (("rate = {", "ratee = {"), "has no field 'ratee'"),
        (("rate = {", "mark_price = {"), "need field(s) ['rate']"),
        (('interval = "8h"', 'interval = "8 hours"'), "expected an interval like"),
        (('interval = "8h"', "intervall = 1"), "unknown key(s) ['intervall']"),
        (("scale = 0.01", 'scale = "percent"'), "`scale` must be a number"),
        (('type = "funding"', 'type = "fundings"'), "`type` must be one of"),
        (('type = "funding"', "type = []"), "`type` must be one of"),
        (('type = "funding"', "type = {}"), "`type` must be one of"),
        (('{ column = "funding_pct", scale = 0.01 }', '{ expr = "funding_pct ** 2" }'), "only + - * /"),
        (('venue = { column = "exchange", case = "lower" }', ""), "`venue` is required"),
        (('name = "my_funding_export"', "name = 3"), "`name` must be a non-empty string"),
    ],
)
def test_invalid_mapping_names_the_mapping_file(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    assert edit[0] in FUNDING_MAP
    path = write(tmp_path, "bad.toml", FUNDING_MAP.replace(edit[0], edit[1], 1))
    with pytest.raises(InputError) as ei:
        load_mapping(path)
    assert ei.value.path == str(path)
    assert expected in ei.value.problem


def test_not_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", "[format\nname = 1\n")
    with pytest.raises(InputError, match="not valid TOML") as ei:
        load_mapping(path)
    assert ei.value.path == str(path)


OI_MAP = """
[format]
name = "oi_ohlc"
description = "open interest OHLC per coin and margin type"
header = ["t", "coin", "margin", "open", "close"]
files = ["oi_*.csv"]

[[record]]
type = "open_interest"
venue = "all"
symbol = { column = "coin" }
base = { column = "coin" }
quote = "AGG"
where = { margin = "all" }
time = { column = "t", unit = "s" }
interval = "4h"
shift = "bar"
[record.fields]
oi_usd = "close"
"""


def test_filter_shift_and_unclaimed_note(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "oi.toml", OI_MAP))
    t0 = ms(2025, 10, 10) // 1000
    csv = write(
        tmp_path,
        "oi_export.csv",
        f"""
        t,coin,margin,open,close
        {t0},BTC,all,100,110
        {t0},BTC,coin,40,41
        {t0 + 14400},BTC,all,110,90
        {t0 + 14400},BTC,stable,60,55
        {t0 + 14400},BTC,stable,55,50
        """,
    )
    assert m.sniff(csv, first_line(csv))
    assert not m.sniff(tmp_path / "other.csv", first_line(csv))  # the name must fit `files`
    [p] = m.parse(csv)
    f = p.frame
    assert f.get_column("oi_usd").to_list() == [110.0, 90.0]
    # the close of the bar opening at t0 is known at t0 + 4h: stamped there
    assert f.get_column("ts_ms").dt.epoch("ms").to_list() == [ms(2025, 10, 10, 4), ms(2025, 10, 10, 8)]
    assert set(f.get_column("canonical")) == {"BTC-AGG-PERP"}
    assert any("margin=coin (1)" in n and "margin=stable (2)" in n for n in p.notes)


def test_conflicting_duplicates_are_refused_and_identical_ones_dropped(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "oi.toml", OI_MAP))
    t0 = ms(2025, 10, 10) // 1000
    csv = write(tmp_path, "oi_a.csv", f"t,coin,margin,open,close\n{t0},BTC,all,1,2\n{t0},BTC,all,1,2\n")
    [p] = m.parse(csv)
    assert p.frame.height == 1 and any("identical" in n for n in p.notes)
    csv = write(
        tmp_path,
        "oi_b.csv",
        f"t,coin,margin,open,close\n{t0},BTC,all,1,2\n{t0},ETH,all,1,2\n{t0},BTC,all,1,3\n",
    )
    with pytest.raises(InputError) as ei:
        m.parse(csv)
    assert ei.value.row == 4 and "lines 2 and 4" in ei.value.problem


def test_no_row_matches(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "oi.toml", OI_MAP))
    csv = write(tmp_path, "oi_x.csv", "t,coin,margin,open,close\n1760054400,BTC,coin,1,2\n")
    with pytest.raises(InputError, match="no rows matched"):
        m.parse(csv)


LIQ_MAP = """
[format]
name = "liqs"
description = "liquidation orders"
null_values = ["", "None"]

[[record]]
type = "liquidations"
venue = "binance"
symbol = { column = "sym" }
scheme = "binance"
quotes = ["USDT", "USDC"]
default_quote = "USDT"
time = { column = "when", format = "%d.%m.%Y %H:%M:%S" }
[record.fields]
side = { column = "side", map = { SELL = "long", BUY = "short" } }
price = { expr = "coalesce(avg, px)" }
qty_base = "qty"
notional_usd = { expr = "qty * coalesce(avg, px)" }
"""


def test_expressions_scheme_and_strftime(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "l.toml", LIQ_MAP))
    assert not m.sniff(tmp_path / "x.csv", "sym,side,px,avg,qty,when")  # no header in the spec: never sniffed
    csv = write(
        tmp_path,
        "l.csv",
        """
        sym,side,px,avg,qty,when
        BTC,SELL,100.0,101.0,2,10.10.2025 21:00:01
        ETHUSDC,BUY,10,None,3,10.10.2025 21:00:02
        XRP_251226,SELL,2,,5,10.10.2025 21:00:03
        """,
    )
    [p] = m.parse(csv)
    got = [(r.symbol, r.canonical, r.side, r.price, r.notional_usd) for r in p.record.to_records(p.frame)]
    assert got == [
        ("BTCUSDT", "BTC-USDT-PERP", "long", 101.0, 202.0),
        ("ETHUSDC", "ETH-USDC-PERP", "short", 10.0, 30.0),
        ("XRPUSDT_251226", "XRP-USDT-251226", "long", 2.0, 10.0),
    ]
    assert p.frame.get_column("ts_ms").dt.epoch("ms")[0] == ms(2025, 10, 10, 21) + 1000


def test_unmapped_literal_value_names_the_line(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "l.toml", LIQ_MAP))
    csv = write(
        tmp_path,
        "l.csv",
        "sym,side,px,avg,qty,when\nBTC,SELL,1,1,1,10.10.2025 21:00:01\nBTC,HOLD,1,1,1,10.10.2025 21:00:02\n",
    )
    with pytest.raises(InputError) as ei:
        m.parse(csv)
    assert ei.value.row == 3 and "'HOLD'" in ei.value.problem


def test_binance_scheme_without_default_quote_refuses_unknown_symbols(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "l.toml", LIQ_MAP.replace('default_quote = "USDT"\n', "")))
    csv = write(
        tmp_path,
        "l.csv",
        "sym,side,px,avg,qty,when\n"
        "BTCUSDT,SELL,1,1,1,10.10.2025 21:00:01\n"
        "BTC,SELL,1,1,1,10.10.2025 21:00:02\n",
    )
    with pytest.raises(InputError, match="cannot split symbol 'BTC'") as ei:
        m.parse(csv)
    assert ei.value.row == 3


SPACING_MAP = """
[format]
name = "settlements"
description = "funding settlements without an interval column"

[[record]]
type = "funding"
venue = "x"
symbol = { column = "s" }
base = { column = "s" }
quote = "USDT"
time = { column = "t", unit = "ms", round = "1s" }
interval = { infer = "spacing", max = "8h", round = "1h" }
[record.fields]
rate = "r"
"""


def test_interval_from_settlement_spacing(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "s.toml", SPACING_MAP))
    h = 3_600_000
    t0 = ms(2026, 3, 8)
    times = [t0 + 4, t0 + 4 * h + 9, t0 + 5 * h, t0 + 6 * h + 12, t0 + 30 * h, t0 + 31 * h, t0 + 35 * h]
    body = "t,s,r\n" + "".join(f"{t},A,0.0001\n" for t in times) + f"{t0},B,0.0002\n"
    [p] = m.parse(write(tmp_path, "s.csv", body))
    a = p.frame.filter(pl.col("symbol") == "A")
    assert a.get_column("ts_ms").dt.epoch("ms").to_list() == [
        t0,
        t0 + 4 * h,
        t0 + 5 * h,
        t0 + 6 * h,
        *(t0 + k * h for k in (30, 31, 35)),
    ]  # rounded to the second
    # first row: next spacing (4h); then 4h, 1h, 1h; 24h gap > 8h → next spacing (1h); 1h; 4h
    assert [x // h for x in a.get_column("interval_ms")] == [4, 4, 1, 1, 1, 1, 4]
    # a series with a single row takes the most common spacing of the block
    assert p.frame.filter(pl.col("symbol") == "B").get_column("interval_ms").to_list() == [h]


def test_infer_needs_two_rows(tmp_path: Path) -> None:
    m = load_mapping(
        write(
            tmp_path,
            "s.toml",
            SPACING_MAP.replace('{ infer = "spacing", max = "8h", round = "1h" }', '"infer"'),
        )
    )
    with pytest.raises(InputError, match="cannot infer the interval"):
        m.parse(write(tmp_path, "s.csv", "t,s,r\n1772928000000,A,0.1\n"))


def test_not_importable_format(tmp_path: Path) -> None:
    spec = """
    [format]
    name = "index"
    description = "an index file"
    header = ["a", "b"]
    importable = false
    reason = "a provenance index, not market data"
    """
    m = load_mapping(write(tmp_path, "n.toml", spec))
    csv = write(tmp_path, "n.csv", "a,b\n1,2\n")
    assert m.sniff(csv, first_line(csv))
    with pytest.raises(NotImportableError, match="provenance index") as ei:
        m.parse(csv)
    assert isinstance(ei.value, InputError) and ei.value.path == str(csv)


def test_mapped_format_is_a_file_format(tmp_path: Path) -> None:
    from perpscope.venues.base import FileFormat

    m: FileFormat = MappedFormat.from_toml(write(tmp_path, "m.toml", FUNDING_MAP))
    assert m.name == "my_funding_export" and m.description.startswith("funding")
    assert OPEN_INTEREST.name == "open_interest"


def test_venue_that_cannot_name_a_store_folder(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, "m.toml", FUNDING_MAP))
    csv = write(
        tmp_path,
        "f.csv",
        "time,coin,exchange,funding_pct\n2025-10-10,BTC,Binance,1\n2025-10-10,BTC,Gate IO,1\n",
    )
    with pytest.raises(InputError, match="'gate io' cannot be a venue name") as ei:
        m.parse(csv)
    assert ei.value.row == 3


def test_worked_example_in_the_docs(tmp_path: Path) -> None:
    """The mapping and export in docs/import-formats.md do what the text says."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "import-formats.md").read_text(encoding="utf-8")
    part = doc.split("## Writing a mapping", 1)[1]
    csv_text = part.split("```csv\n", 1)[1].split("```", 1)[0]
    toml_text = part.split("```toml\n", 1)[1].split("```", 1)[0]
    m = load_mapping(write(tmp_path, "dashboard.toml", toml_text))
    csv = write(tmp_path, "dashboard_2025-10.csv", csv_text)
    assert m.sniff(csv, first_line(csv))
    funding, oi = m.parse(csv)
    f = funding.frame.filter(pl.col("canonical") == "BTC-USDT-PERP").row(0, named=True)
    assert (f["venue"], f["symbol"], f["rate"], f["interval_ms"]) == (
        "binance",
        "BTCUSDT",
        pytest.approx(0.0001),
        8 * 3_600_000,
    )
    assert int(f["ts_ms"].timestamp() * 1000) == ms(2025, 10, 10, 21) and f["mark_price"] == 121500.5
    assert funding.frame.height == 2  # the COIN-margined row is left out …
    assert any("Margin=COIN (1)" in n for n in funding.notes)  # … and counted
    o = oi.frame.filter(pl.col("canonical") == "BTC-USDT-PERP").row(0, named=True)
    assert o["oi_usd"] == 31.02e9
    assert funding.frame.filter(pl.col("venue") == "okx").row(0, named=True)["mark_price"] is None
