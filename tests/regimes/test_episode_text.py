"""The episodes' evidence written by compiled loops (perpscope.regimes.episode_text) is byte for byte the
text of the polars expressions that define it, on edge numbers and on the real store."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from perpscope.regimes import RegimeConfig, classify, episodes
from perpscope.regimes.episode_text import openings

# the module, not the function perpscope.regimes re-exports under the same name
C = sys.modules["perpscope.regimes.classify"]

N = 20_000


def _edgy(rng: np.random.Generator, scale: float, *, wild: bool) -> pl.Series:
    """Numbers a sentence writes: at several magnitudes, on rounding ties (x.x5 percent, y.y5 of a unit),
    signed zeros, tiny and huge values and nulls; with ``wild`` also NaN and ±inf (the definition writes
    those only where it casts a float to text: elsewhere its integer cast refuses them, tested below)."""
    kind = rng.integers(0, 9, N)
    mag = 10.0 ** rng.integers(-8, 13, N)
    x = rng.normal(0, 1, N) * scale
    x = np.where(kind == 1, np.round(rng.normal(0, 3, N), 1) / 100 + 0.0005 / 100, x)  # tie at 0.05 %
    x = np.where(kind == 2, rng.normal(0, 1, N) * mag, x)
    x = np.where(kind == 3, np.where(rng.random(N) < 0.5, -0.0, 0.0), x)
    x = np.where(
        kind == 4, (np.round(rng.uniform(-2000, 2000, N)) + 0.5) * 10.0 ** rng.integers(-3, 10, N), x
    )
    special = [999.96, 999_999.96, -0.4, 1e12, 2e12, 1e13] + ([np.nan, np.inf, -np.inf] if wild else [])
    x = np.where(kind == 5, rng.choice(special, N), x)
    s = pl.Series(x)
    return s.scatter(np.flatnonzero(kind == 6), None)


def horizon_columns(rng: np.random.Generator, n: int, burst_nulls: int) -> dict[str, object]:
    """classify's evidence columns at each horizon (window, ``_bar``, ``_long``), ``n`` rows of edge values
    (:func:`_edgy`), the burst flags with ``burst_nulls`` nulls each."""
    cols: dict[str, object] = {}
    for base, scale, wild in (
        ("price_chg", 0.05, True),
        ("oi_chg", 0.05, True),
        ("oi_usd_chg", 0.05, True),
        ("liq_long_w_usd", 1e6, False),
        ("liq_short_w_usd", 1e6, False),
        ("liq_long_share_w", 0.5, False),
    ):
        for suffix in ("", "_bar", "_long"):
            cols[f"{base}{suffix}"] = _edgy(rng, scale, wild=wild)[:n]
    for suffix in ("", "_bar", "_long"):
        cols[f"liq_burst_w{suffix}"] = pl.Series(rng.random(n) < 0.3).scatter(
            rng.integers(0, n, burst_nulls), None
        )
    return cols


def _episode_frame(seed: int) -> pl.DataFrame:
    """Rows shaped like the episodes' table before their text is written (evidence columns of the first
    bar, the episode's ranges), with edge values in every number."""
    rng = np.random.default_rng(seed)
    cols = horizon_columns(rng, N, 50)
    for name, scale, wild in (
        ("funding_8h", 1e-4, False),
        ("funding_chg", 1e-4, False),
        ("ls_ratio", 2.0, True),
        ("ls_z", 2.0, True),
        ("price_chg_min", 0.05, True),
        ("price_chg_max", 0.05, True),
        ("oi_chg_min", 0.05, True),
        ("oi_chg_max", 0.05, True),
        ("liq_long_usd", 1e6, False),
    ):
        cols[name] = _edgy(rng, scale, wild=wild)
    keys = rng.choice(["bar", "window", "long"], N)
    df = pl.DataFrame(cols).with_columns(
        pl.Series("horizon_key", keys).scatter(rng.integers(0, N, 20), None),
        pl.Series("horizon", np.where(keys == "bar", "bar", np.where(keys == "long", "3d", "1d"))),
        pl.Series("missing", rng.choice(["price change", "OI, funding", "funding", ""], N)).replace("", None),
        pl.Series("liquidation_led", rng.random(N) < 0.2),
        pl.Series("regime", rng.choice(["deleveraging_flush", "short_covering", "neutral"], N)),
        pl.Series("partial", rng.random(N) < 0.1),
        pl.Series("bars", rng.integers(1, 3, N) ** rng.integers(0, 12, N), dtype=pl.UInt32),
        # a few rows carry classify's own sentence already: kept as they are
        pl.Series("_ev", ["classify's own sentence" if r < 0.05 else None for r in rng.random(N)], pl.String),
    )
    return df


@pytest.mark.parametrize("seed", [0, 1])
def test_openings_are_the_polars_sentences(seed: int) -> None:
    ep, cfg = _episode_frame(seed), RegimeConfig()
    want = ep.select(pl.col("_ev").fill_null(C._evidence(cfg))).to_series()
    got = C._written(ep, cfg)
    assert got.to_list() == want.to_list()


@pytest.mark.parametrize("seed", [0, 1])
def test_summaries_are_the_polars_text(seed: int) -> None:
    ep, cfg = _episode_frame(seed), RegimeConfig(window_ms=12 * 3600 * 1000)
    for num in (
        {"price_chg": True, "oi_chg": True, "liq_long_w_usd": True},
        {"price_chg": True, "oi_chg": False, "liq_long_w_usd": False},
        {"price_chg": False, "oi_chg": False, "liq_long_w_usd": True},
    ):
        want = ep.select(C._summary_expr(num, cfg)).to_series()
        assert C._written_summary(ep, num, cfg).to_list() == want.to_list()


@pytest.mark.parametrize("seed", [0, 1])
def test_whole_evidence_written_at_once_is_the_polars_text(seed: int) -> None:
    """Episodes none of whose first bars has evidence get "opened on: " + sentence + summary from one
    loop (episode_text.evidences): the polars definition's text, rows with a NaN or an infinity included
    (declined by the loop, written by polars)."""
    ep, cfg = _episode_frame(seed), RegimeConfig()
    ep = ep.with_columns(pl.lit(None, pl.String).alias("_ev"))
    num = {"price_chg": True, "oi_chg": True, "liq_long_w_usd": True}
    whole = pl.concat_str([pl.lit("opened on: "), C._evidence(cfg), C._summary_expr(num, cfg)])
    want = ep.select(whole).to_series()
    assert want.str.contains("NaN").sum() > 0 and want.null_count() < N
    assert C._written_whole(ep, num, cfg).to_list() == want.to_list()


def test_rows_without_a_horizon_or_with_missing_inputs_are_the_polars_text() -> None:
    """The loops take each row's horizon and missing-input text from tables by code: a row whose
    horizon is null (no code) is left to polars, and the missing-input text of every row (null on most)
    reads as polars writes it, in the opening alone and in the whole evidence."""
    ep, cfg = _episode_frame(4), RegimeConfig()
    rows = np.arange(0, N, 7)
    ep = ep.with_columns(ep.get_column("horizon").scatter(rows, None), pl.lit(None, pl.String).alias("_ev"))
    assert ep.get_column("missing").null_count() not in (0, N)
    want = ep.select(C._evidence(cfg)).to_series()
    assert C._written(ep, cfg).to_list() == want.to_list()
    num = {"price_chg": True, "oi_chg": True, "liq_long_w_usd": True}
    whole = pl.concat_str([pl.lit("opened on: "), C._evidence(cfg), C._summary_expr(num, cfg)])
    assert C._written_whole(ep, num, cfg).to_list() == ep.select(whole).to_series().to_list()


@pytest.mark.parametrize(
    "col",
    ["funding_8h", "funding_chg", "liq_long_w_usd", "liq_long_share_w", "price_chg", "ls_ratio", "ls_z"],
)
def test_a_nan_is_written_or_refused_as_the_definition_does(col: str) -> None:
    """A NaN has no text of the loop's: the loop declines the row and the definition writes it (``NaN%``,
    ``$NaNB``) or, where its integer cast refuses a NaN (a funding rate, a share), raises; ours the same."""
    ep, cfg = _episode_frame(2), RegimeConfig()
    ep = ep.with_columns(pl.lit(None, pl.String).alias("_ev"), pl.lit("window").alias("horizon_key"))
    ep = ep.with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(float("nan")).otherwise(pl.col(col)).alias(col)
    )
    try:
        want = ep.select(C._evidence(cfg)).to_series()
    except pl.exceptions.InvalidOperationError:
        with pytest.raises(pl.exceptions.InvalidOperationError):
            C._written(ep, cfg)
    else:
        assert "NaN" in want[7]
        assert C._written(ep, cfg).to_list() == want.to_list()


def test_the_loop_declines_only_numbers_it_cannot_write() -> None:
    """Rows the loop leaves to polars are those with a NaN, an infinity or a number of 1e12 or more:
    every finite sentence of ordinary size is written by the loop."""
    ep, cfg = _episode_frame(3), RegimeConfig()
    captured: dict[str, np.ndarray] = {}

    def spy(nums: pl.DataFrame, burst: str, window: str) -> tuple[pl.Series, np.ndarray]:
        text, declined = openings(nums, burst, window)
        captured["declined"] = declined
        captured["need"] = nums.get_column("need").to_numpy()
        return text, declined

    mp = pytest.MonkeyPatch()
    mp.setattr(C, "openings", spy)
    try:
        C._written(ep, cfg)
    finally:
        mp.undo()
    exprs = [
        *(C._pick(c) for c in ("price_chg", "oi_chg", "oi_usd_chg", "liq_long_w_usd", "liq_short_w_usd")),
        C._pick("liq_long_share_w"),
        *(pl.col(c) for c in ("funding_8h", "funding_chg", "ls_ratio", "ls_z")),
    ]
    # the largest factor a number is written with is 10^5 (a funding rate in thousandths of a percent)
    odd = [(~e.is_finite() | (e.abs() * 1e5 >= 1e12)).fill_null(False) for e in exprs]
    unusual = ep.select(pl.any_horizontal(odd)).to_series().to_numpy()
    ordinary = captured["need"] & ~unusual & ep.get_column("horizon").is_not_null().to_numpy()
    assert ordinary.sum() > N // 10
    assert not (captured["declined"] & ordinary).any()


@pytest.mark.parametrize(("every_ms", "span_days"), [(300_000, 30), (3_600_000, None)])
def test_episodes_evidence_on_the_real_store(
    shared_store: Path, every_ms: int, span_days: int | None
) -> None:
    """On the store of the whole shared data, BTC at every venue: the episodes of a batch run
    (classify without evidence, the sentences written by the loops) read word for word like those of
    ``perpscope regimes`` (classify's polars sentences)."""
    from perpscope.assemble.panel import market_panel
    from perpscope.core.time import parse_time_ms
    from perpscope.store import Lake

    start = None if span_days else parse_time_ms("2020-01-01")
    panel = market_panel(Lake(shared_store), "all", "BTC", start, None, every_ms).priced
    fast = episodes(classify(panel, evidence=False))
    full = episodes(classify(panel))
    assert fast.height > 100
    assert fast.equals(full)
