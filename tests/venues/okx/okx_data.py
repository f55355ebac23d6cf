"""OKX payloads for the loopback servers: the documented examples, re-stamped into series."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EX = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "okx" / "examples.json").read_text())
M = 60_000


def envelope(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def liquidation_frame(i: int, t0: int) -> str:
    """The documented liquidation push, moved to BTC-USDT-SWAP (known contract size), one per second."""
    ev = EX["liquidation_orders"]
    d = {**ev["data"][0]["details"][0], "ts": str(t0 + i * 1000), "bkPx": str(60_000 + i)}
    d["side"], d["posSide"] = ("sell", "long") if i % 2 else ("buy", "short")
    data = [{**ev["data"][0], "instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "details": [d]}]
    return json.dumps({"arg": ev["arg"], "data": data})


def candle_row(t: int, confirm: str = "1") -> list[str]:
    """A candle array with the documented layout (values of the example's confirmed bar)."""
    return [
        str(t),
        "3.731",
        "3.799",
        "3.494",
        "3.72",
        "24912403",
        "67632347.24399722",
        "37632347.24399722",
        confirm,
    ]


def candle_frame(t: int, bar: str = "1m", inst: str = "BTC-USDT-SWAP") -> str:
    return json.dumps({"arg": {"channel": f"candle{bar}", "instId": inst}, "data": [candle_row(t)]})


def answer(candles: list[list[str]] | None = None, funding: list[dict[str, Any]] | None = None):  # type: ignore[no-untyped-def]
    """A FakeBinanceRest ``answer`` serving OKX paths from the given series (windows by before/after)."""

    def ans(path: str, q: dict[str, str]) -> Any:
        lo, hi = int(q.get("before", -1)), int(q.get("after", 2**62))
        if path == "/api/v5/public/instruments":
            return EX["instruments_swap"]
        if path == "/api/v5/public/funding-rate":
            return EX["funding_rate"]
        if path == "/api/v5/market/history-candles":
            rows = [r for r in candles or [] if lo < int(r[0]) < hi]
            return envelope(sorted(rows, key=lambda r: -int(r[0]))[: int(q.get("limit", 100))])
        if path == "/api/v5/public/funding-rate-history":
            rows = [r for r in funding or [] if lo < int(r["fundingTime"]) < hi]
            return envelope(sorted(rows, key=lambda r: -int(r["fundingTime"]))[: int(q.get("limit", 400))])
        if path == "/api/v5/public/open-interest":
            return EX["open_interest"]
        return None

    return ans
