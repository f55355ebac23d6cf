"""Evaluation benchmarks: six years of hourly bars through a full study, and the statistics against
their reference implementations (statsmodels' Logit, arch's SPA) in this process.

Targets: a built-in-sized study (52,560 hourly bars, 4 horizons × 4 variants walk-forward plus 10 event
signals) in < 10 s on one core; the bootstrap reality check no slower than arch's SPA on the same data.
Inputs are a seeded random walk (synthetic values; only shape and size matter to throughput).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from benchmarks.common import T0, Result, best_of
from perpscope.evaluate import parse_spec, run_study, stats

HOURS_6Y = 6 * 365 * 24  # 52,560


def hourly_panel(n: int = HOURS_6Y, seed: int = 11) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    return pl.DataFrame(
        {
            "venue": "binance",
            "canonical": "BTC-USDT-PERP",
            "ts_ms": pl.Series(T0 + 3_600_000 * np.arange(n, dtype=np.int64)).cast(pl.Datetime("ms", "UTC")),
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "funding_z": rng.normal(size=n),
            "oi_usd_chg_1d": rng.normal(0, 0.02, n),
            "taker_imbalance": rng.normal(0, 0.1, n),
        }
    )


SPEC = {
    "name": "bench",
    "dataset": "lake",
    "horizons": ["1h", "8h", "1d", "7d"],
    "events": {"signals": [{"name": f"z>{k / 4}", "when": f"funding_z > {k / 4}"} for k in range(10)]},
    "walkforward": {
        "train_min": "365d",
        "test": "30d",
        "variants": [
            {"name": "funding", "features": ["funding_z"]},
            {"name": "oi", "features": ["oi_usd_chg_1d"]},
            {"name": "all", "features": ["funding_z", "oi_usd_chg_1d", "taker_imbalance"]},
        ],
    },
}


def run() -> list[Result]:
    import statsmodels.api as sm
    from arch.bootstrap import SPA

    panel = hourly_panel()
    spec = parse_spec(SPEC)
    t_study = best_of(lambda: run_study(spec, panel), repeat=1)

    rng = np.random.default_rng(1)
    x = rng.normal(size=(20_000, 3))
    y = (rng.random(20_000) < 1 / (1 + np.exp(-x @ np.array([0.3, -0.2, 0.1])))).astype(float)
    t_fit = best_of(lambda: stats.fit_logistic(x, y, l2=0.0), repeat=5)
    t_sm = best_of(lambda: sm.Logit(y, sm.add_constant(x)).fit(disp=0), repeat=5)

    bench = rng.normal(size=2_000)
    models = rng.normal(size=(2_000, 40))
    t_rc = best_of(lambda: stats.reality_check(bench, models, reps=1000, mean_block=10), repeat=1)

    def arch_spa() -> None:
        SPA(bench, models, block_size=10, reps=1000, bootstrap="stationary", seed=0).compute()

    t_arch = best_of(arch_spa, repeat=1)
    return [
        Result(
            f"evaluate study: {HOURS_6Y:,} 1h bars, 4 horizons × 4 variants + 10 signals",
            t_study,
            "s",
            target="< 10 s",
        ),
        Result("evaluate logistic fit, 20,000 × 3", t_fit, "s", "statsmodels Logit", t_sm / t_fit, "≥ 1×"),
        Result(
            "evaluate reality check + SPA, 2,000 × 40, 1,000 reps",
            t_rc,
            "s",
            "arch SPA (same reps)",
            t_arch / t_rc,
            "≥ 1×",
        ),
    ]


if __name__ == "__main__":
    for r in run():
        print(r.line())
