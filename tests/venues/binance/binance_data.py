"""Recorded payloads for the Binance tests: documented examples and real values from ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "binance"


def ws_examples() -> dict[str, Any]:
    return json.loads((FIXTURES / "ws_examples.json").read_text())


def closed_kline_frame(t: int, symbol: str = "BTCUSDT") -> str:
    """A closed 1-minute ``kline`` websocket frame opening at ``t`` (ms), in the shape of Binance's
    documented example. That example bar has its low above its open, which the store's checks refuse,
    so the low is set below every other price."""
    k = ws_examples()["kline"]
    bar = {**k["k"], "t": t, "T": t + 59_999, "x": True, "l": "0.0005"}
    return json.dumps({**k, "s": symbol, "k": bar})


def rest_examples() -> dict[str, Any]:
    return json.loads((FIXTURES / "rest_examples.json").read_text())


def force_order_messages(shared: Path, n: int | None = None) -> list[dict[str, Any]]:
    """Recorded ``!forceOrder@arr`` events (riftfern recorder CSV) turned back into websocket messages."""
    df = pl.read_csv(
        shared / "binance_force_orders" / "riftfern_binance_forceorders_2025-12-27_2025-12-28.csv.gz"
    )
    if n is not None:
        df = df.head(n)
    out = []
    for r in df.iter_rows(named=True):
        sym = str(r["symbol"]).upper()
        sym = sym if sym.endswith(("USDT", "USDC")) else sym + "USDT"
        ap = r["avg_price"]
        out.append(
            {
                "e": "forceOrder",
                "E": int(r["trade_time_ms"]) + 3,
                "o": {
                    "s": sym,
                    "S": r["side"],
                    "o": r["order_type"],
                    "f": r["time_in_force"],
                    "q": str(r["orig_qty"]),
                    "p": str(r["price"]),
                    "ap": "0" if ap in (None, "None") else str(ap),
                    "X": r["order_status"],
                    "l": str(r["last_filled_qty"]),
                    "z": str(r["filled_accum_qty"]),
                    "T": int(r["trade_time_ms"]),
                },
            }
        )
    return out


def btc_funding(shared: Path) -> list[dict[str, Any]]:
    """BTCUSDT settlements (gravestone) as ``/fapi/v1/fundingRate`` rows."""
    df = pl.read_csv(
        shared / "binance_um_gravestone" / "funding_rate_all_usdtm_perps_20260112_20260320.csv.gz"
    )
    df = df.filter(pl.col("symbol") == "BTCUSDT").sort("timestamp")
    return [
        {
            "symbol": "BTCUSDT",
            "fundingRate": f"{r['funding_rate']:.8f}",
            "fundingTime": int(r["timestamp"]),
            "markPrice": "90000.0",
        }
        for r in df.iter_rows(named=True)
    ]


def btc_klines_1h(shared: Path, start_ms: int, end_ms: int) -> list[list[Any]]:
    """BTCUSDT perp 1h bars (LeopoldLj) as ``/fapi/v1/klines`` arrays."""
    df = pl.read_csv(shared / "binance_um_klines_leopoldlj" / "BTCUSDT_perp_1h_20191001_20260210.csv.gz")
    df = df.filter((pl.col("open_time_ms") >= start_ms) & (pl.col("open_time_ms") < end_ms)).sort(
        "open_time_ms"
    )
    return [
        [
            r["open_time_ms"],
            str(r["open"]),
            str(r["high"]),
            str(r["low"]),
            str(r["close"]),
            str(r["volume_base"]),
            r["close_time_ms"],
            str(r["volume_quote"]),
            int(r["n_trades"]),
            str(r["taker_buy_base"]),
            str(r["taker_buy_quote"]),
            "0",
        ]
        for r in df.iter_rows(named=True)
    ]


def btc_oi_4h(shared: Path) -> list[dict[str, Any]]:
    """BTCUSDT 4h open interest (gravestone) as ``/futures/data/openInterestHist`` rows."""
    df = pl.read_csv(
        shared / "binance_um_gravestone" / "open_interest_4h_all_usdtm_perps_20260220_20260320.csv.gz"
    )
    df = df.filter(pl.col("symbol") == "BTCUSDT").sort("timestamp")
    return [
        {
            "symbol": "BTCUSDT",
            "sumOpenInterest": str(r["sum_open_interest"]),
            "sumOpenInterestValue": str(r["sum_open_interest_value"]),
            "timestamp": int(r["timestamp"]),
        }
        for r in df.iter_rows(named=True)
    ]
