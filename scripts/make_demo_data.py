"""Cut the bundled demo data (src/perpscope/data/demo/) from the team's shared real data.

Run from the project root with ../shared/data beside it:  python scripts/make_demo_data.py

Only Binance-sourced sets are used (SOURCES.md allows small slices of them in the project); rows are
filtered, never edited, and each file keeps its source's columns and header so the demo exercises the
same importers a user's files go through.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "src" / "perpscope" / "data" / "demo"
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "DOGEUSDT"]
DEC_1_2025_MS = 1764547200000  # 2025-12-01 00:00 UTC


def write_gz(df: pl.DataFrame, name: str) -> None:
    path = OUT / name
    # mtime=0 keeps the bytes the same on every run, so regenerating changes nothing in git
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as fh:
        df.write_csv(fh)
    print(f"{name}: {df.height} rows, {path.stat().st_size / 1024:.0f} KiB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    g = SHARED / "binance_um_gravestone"
    k = pl.read_csv(
        g / "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20250913_20260319.csv.gz", infer_schema=False
    )
    k = k.filter(pl.col("timestamp").cast(pl.Int64) >= DEC_1_2025_MS)
    write_gz(k, "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20251201_20260319.csv.gz")
    f = pl.read_csv(g / "funding_rate_all_usdtm_perps_20260112_20260320.csv.gz", infer_schema=False)
    write_gz(
        f.filter(pl.col("symbol").is_in(SYMBOLS)),
        "funding_rate_BTC_ETH_SOL_XRP_BNB_DOGE_20260112_20260320.csv.gz",
    )
    for iv in ("4h", "1d"):
        src = next(g.glob(f"open_interest_{iv}_all_usdtm_perps_*.csv.gz"))
        oi = pl.read_csv(src, infer_schema=False).filter(pl.col("symbol").is_in(SYMBOLS))
        write_gz(oi, src.name.replace("all_usdtm_perps", "BTC_ETH_SOL_XRP_BNB_DOGE"))
    fo = SHARED / "binance_force_orders" / "riftfern_binance_forceorders_2025-12-27_2025-12-28.csv.gz"
    write_gz(pl.read_csv(fo, infer_schema=False), fo.name)
    for src in (SHARED / "binance_um_sol_jabine9966").glob("*.csv.gz"):
        write_gz(pl.read_csv(src, infer_schema=False), src.name)
    crash = SHARED / "binance_um_klines_leopoldlj" / "BTCUSDT_perp_5m_20251006_20251015.csv.gz"
    write_gz(pl.read_csv(crash, infer_schema=False), crash.name)


if __name__ == "__main__":
    main()
