"""The heatmap's price-level benchmark: recorded Binance liquidation orders of ``../shared/data`` (SOURCES.md
§5) scored against the book at each 4-hour window's open, fit then test (``perpscope heatmap score``).

The store is one imported from all of ``../shared/data`` the README way (``perpscope --data-dir DIR import
../shared/data``); the default ``DIR`` is ``/tmp/events-store`` (the regime benchmark's), imported on
first use when absent. ``python -m benchmarks.heatmap_price_level [--data-dir DIR]`` prints the tables
at the terminal's width; ``run()``
(``python -m benchmarks``) reports the harness's time and the chosen variant's test shares.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import Result, shared_store
from perpscope.assemble.heatmap_score import VARIANTS, fit_then_test, price_level_scores
from perpscope.cli.main import app
from perpscope.store import Lake

DEFAULT_STORE = Path("/tmp/events-store")
SYMBOLS = [f"{c}USDT" for c in ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB")]


def run(data_dir: Path = DEFAULT_STORE) -> list[Result]:
    """Time of the harness over every variant, and the chosen variant's test shares (none, with a note,
    when the store of ../shared/data has not been imported at ``data_dir``)."""
    if shared_store(data_dir, "heatmap price level") is None:
        return []
    t = time.perf_counter()
    scores = price_level_scores(Lake(data_dir), SYMBOLS, variants=VARIANTS)
    ft = fit_then_test(scores)
    took = time.perf_counter() - t
    return [
        Result(f"heatmap price level: {len(VARIANTS)} variants, 6 symbols", took, "s"),
        Result(f"  test share in top-k zones ({ft.chosen})", ft.test.zone_share[0], "share"),
        Result("  test share in distance-matched controls", ft.test.control_share[0], "share"),
        Result("  test share in bar-range baseline zones", ft.test.baseline_share[0], "share"),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.heatmap_price_level", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_STORE)
    a = ap.parse_args(argv)
    if shared_store(a.data_dir, "heatmap price level") is None:
        return 2
    app(["--data-dir", str(a.data_dir), "heatmap", "score", *SYMBOLS], standalone_mode=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
