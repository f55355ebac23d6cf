"""The compiled pass of classify on a gapless grid (regimes/grid_labels.py) against classify's polars steps,
which stay the definition: frame-equal, every column and dtype, on hand-made, random and real panels."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.regimes.conftest import make_panel

from perpscope.regimes import RegimeConfig, classify
from perpscope.regimes.config import LABELS
from perpscope.regimes.grid_labels import _BLOCK, with_grid_labels

C = importlib.import_module("perpscope.regimes.classify")


def _public(t: pl.DataFrame) -> pl.DataFrame:
    return C._public(t.with_columns(pl.lit(None, pl.Utf8).alias("evidence")))


def both_ways(
    panel: pl.DataFrame, cfg: RegimeConfig | None = None
) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    """classify's columns from the compiled pass (None where it declined) and from the polars steps."""
    cfg = cfg or RegimeConfig()
    t, step = C._working_frame(panel)
    assert step is not None, "the panel is not a gapless grid"
    grid = with_grid_labels(t, cfg, step)
    steps = _public(C._with_steps(t, cfg, step, step))
    return (None if grid is None else _public(grid)), steps


def assert_same(panel: pl.DataFrame, cfg: RegimeConfig | None = None) -> pl.DataFrame:
    grid, steps = both_ways(panel, cfg)
    assert grid is not None, "the compiled pass declined a frame it can read"
    assert grid.schema == steps.schema
    for c in steps.columns:  # column by column, so a failure names it
        assert grid.get_column(c).equals(steps.get_column(c)), c
    return grid


def _random_panel(rng: np.random.Generator, n: int, series: int, null_share: float) -> pl.DataFrame:
    """Random walks with moves large enough for every label, liquidation bursts, funding both ways and
    long/short ratios, with a share of every input missing (one panel of ``series`` 4h series)."""
    frames = []
    for s in range(series):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        oi = 1e4 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
        liq_l = np.where(rng.random(n) < 0.5, 0.0, rng.gamma(0.5, 1e6, n))
        liq_s = np.where(rng.random(n) < 0.5, 0.0, rng.gamma(0.5, 1e6, n))
        funding = rng.normal(0.0001, 0.0003, n)
        ls = np.exp(rng.normal(0.3, 0.6, n))
        cols: dict[str, np.ndarray] = {}
        for name, v in (
            ("oi", oi),
            ("funding", funding),
            ("liq_long", liq_l),
            ("liq_short", liq_s),
            ("ls", ls),
        ):
            cols[name] = np.where(rng.random(n) < null_share, np.nan, v)
        p = make_panel(close, canonical=f"S{s}-USDT-PERP", **cols)  # type: ignore[arg-type]
        p = p.with_columns(
            pl.Series("oi_usd", cols["oi"] * close).fill_nan(None),
            pl.Series("ratio_z_global_accounts", rng.normal(0, 1.5, n)),
            pl.Series("funding_extreme", rng.integers(-1, 2, n), dtype=pl.Int8),
            pl.Series("liq_burst", rng.random(n) < 0.1),
            pl.Series("complete", rng.random(n) < 0.95),
        )
        # make_panel writes NaN for a missing value: the store's panels carry nulls
        frames.append(p.with_columns(pl.col(pl.Float64).fill_nan(None)))
    return pl.concat(frames)


def test_random_panels_read_alike() -> None:
    """Three long random panels: equal frames, and the labels they hold are many (not a vacuous match)."""
    rng = np.random.default_rng(7)
    seen: set[str] = set()
    for null_share in (0.0, 0.05, 0.3):
        grid = assert_same(_random_panel(rng, 600, 3, null_share))
        seen |= set(grid.get_column("regime").unique().to_list())
    assert len(seen) == len(LABELS), sorted(set(LABELS) - seen)


def test_series_longer_than_a_block_read_alike() -> None:
    """The compiled pass runs each series block by block (``_BLOCK`` rows), carrying the window sums and
    the held states across: series of several blocks, whose windows, holds and bursts straddle the
    blocks' edges, read as the polars steps read them."""
    n = 2 * _BLOCK + _BLOCK // 2 + 7
    rnd = _random_panel(np.random.default_rng(11), n, 2, 0.05)
    # and a falling zigzag with OI rising: new shorts, entered on the down bars (odd rows) and held on
    # the up bars (even rows), so the first bar of every block holds a state entered in the block before
    up = np.arange(n) % 2 == 0
    close = 100 * np.cumprod(np.where(up, 1.004, 0.985))
    oi = 1e4 * 1.004 ** np.arange(n)
    zigzag = make_panel(close, oi=oi, funding=1e-4, liq_long=0.0, liq_short=0.0, canonical="Z-USDT-PERP")
    panel = pl.concat([rnd, zigzag], how="diagonal_relaxed")
    grid = assert_same(panel)
    assert grid.height == 3 * n
    # not a vacuous match: most labels occur, and a held state spans each block edge of the zigzag
    assert grid.get_column("regime").n_unique() >= 7
    z = grid.filter(pl.col("canonical") == "Z-USDT-PERP")
    for edge in (_BLOCK, 2 * _BLOCK):
        assert z.get_column("regime_window")[edge] == "new_shorts"
        assert z.get_column("price_chg_bar")[edge] > 0  # an up bar: held, not dated


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 260),
    series=st.integers(1, 3),
    null_share=st.sampled_from([0.0, 0.02, 0.2, 0.7]),
    hold=st.sampled_from([0.25, 0.5, 1.0]),
    window_h=st.sampled_from([4, 24, 36]),
)
def test_any_panel_reads_alike(
    seed: int, n: int, series: int, null_share: float, hold: float, window_h: int
) -> None:
    """Any gapless panel, short or long, with any share of missing inputs and other windows: equal frames."""
    cfg = RegimeConfig(
        window_ms=window_h * 3_600_000, long_window_ms=3 * window_h * 3_600_000, hold_share=hold
    )
    assert_same(_random_panel(np.random.default_rng(seed), n, series, null_share), cfg)


def test_panels_without_optional_columns(panel_of: object) -> None:
    """Only a price (no OI, funding, liquidations or ratios), and only OI in USD: equal frames."""
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))
    assert_same(make_panel(close))
    usd = make_panel(close, funding=0.0001).with_columns(pl.Series("oi_usd", close * 1e4))
    assert_same(usd)


def test_nan_and_zero_go_to_the_expressions() -> None:
    """A NaN input, or a 0 / 0 change, is left to the polars steps (which keep NaN apart from null); classify
    still returns their frame."""
    rng = np.random.default_rng(5)
    p = _random_panel(rng, 200, 1, 0.0)
    nan = p.with_columns(
        pl.when(pl.int_range(pl.len()) == 50).then(float("nan")).otherwise(pl.col("close")).alias("close")
    )
    zero = p.with_columns(
        pl.when(pl.int_range(pl.len()) < 20).then(0.0).otherwise(pl.col("oi_base")).alias("oi_base")
    )
    for panel, col in ((nan, "close"), (zero, "oi_chg")):
        grid, steps = both_ways(panel)
        assert grid is None
        assert steps.get_column(col).is_nan().any()  # a NaN the compiled pass would have read as null
        assert classify(panel, evidence=False).equals(steps)


def _steps_args(panel: pl.DataFrame) -> tuple[pl.DataFrame, RegimeConfig, int | None, int]:
    t, step = C._working_frame(panel)
    assert step is not None
    return t, RegimeConfig(), step, step


@pytest.mark.parametrize(("every_ms", "symbol"), [(300_000, "BTC"), (3_600_000, "BTC"), (14_400_000, "SOL")])
def test_real_store_reads_alike(shared_store: Path, every_ms: int, symbol: str) -> None:
    """On the store of the whole shared data (every venue), the longest gapless stretch of the series
    since 2024: equal frames; and classify's evidence (written by the episodes' compiled text loop) is
    byte for byte the polars sentence of every bar."""
    from perpscope.assemble.panel import market_panel
    from perpscope.core.time import parse_time_ms
    from perpscope.store import Lake

    panel = market_panel(
        Lake(shared_store), "all", symbol, parse_time_ms("2024-01-01"), None, every_ms
    ).priced
    ts = panel.get_column("ts_ms").dt.epoch("ms")
    run = (ts.diff() != every_ms).fill_null(True).cum_sum()
    longest = run.value_counts(sort=True).row(0)[0]
    gapless = panel.filter(run == longest)
    assert gapless.height > 1000
    grid = assert_same(gapless)
    assert grid.get_column("regime").n_unique() >= 5
    full = classify(gapless)
    steps_full = C._public(
        C._with_steps(*_steps_args(gapless)).pipe(
            lambda t: t.with_columns(C._evidence(RegimeConfig()).alias("evidence"))
        )
    )
    assert full.equals(steps_full)
