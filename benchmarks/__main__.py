"""Run every benchmark: ``python -m benchmarks`` (or ``make bench``)."""

from __future__ import annotations

import os
import platform

from benchmarks import (
    bench_api,
    bench_api_burst,
    bench_cascade,
    bench_collect,
    bench_evaluate,
    bench_heatmap,
    bench_import,
    bench_metrics,
    bench_store,
    bench_store_info,
    bench_view,
    heatmap_price_level,
    regime_events,
)


def main() -> None:
    print(f"perpscope benchmarks — {platform.python_version()}, {os.cpu_count()} cores")
    print("ratio = reference time / perpscope time (higher is faster), both run in this process")
    for mod in (
        bench_import,
        bench_store,
        bench_store_info,
        bench_metrics,
        bench_view,
        bench_heatmap,
        bench_collect,
        bench_evaluate,
        bench_cascade,
        bench_api,
        bench_api_burst,
        regime_events,
        heatmap_price_level,
    ):
        for r in mod.run():
            print(r.line(), flush=True)


if __name__ == "__main__":
    main()
