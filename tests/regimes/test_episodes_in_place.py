"""``episodes`` of classify's labels is read in one compiled pass over the columns in place
(``classify._episodes_in_place``: ``episode_text.run_starts`` and ``episode_table`` over
``arrow_buffers``' views of the Arrow buffers); its table is, column for column and byte for byte, the
table of the general path (runs gathered, numbers computed by polars, text by the loops that the
tests of ``test_episode_text`` hold to the polars definition), on edge numbers, on every shape of
nulls, slices and chunks, and on random frames (hypothesis)."""

from __future__ import annotations

import sys

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from tests.regimes.test_episode_text import _edgy, horizon_columns

from perpscope.regimes import RegimeConfig, episodes
from perpscope.regimes.classify import EVIDENCE_COLUMNS

C = sys.modules["perpscope.regimes.classify"]

_REGIMES = ["deleveraging_flush", "short_covering", "neutral", "insufficient_data", "latent_fragility"]


def _general(labels: pl.DataFrame, config: RegimeConfig | None = None) -> pl.DataFrame:
    """``episodes`` by the general path (the in-place pass switched off)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(C, "_episodes_in_place", lambda df, cfg: None)
    try:
        return episodes(labels, config)
    finally:
        mp.undo()


def _labels(seed: int, n: int, *, n_series: int = 3, regime_nulls: bool = True) -> pl.DataFrame:
    """A frame shaped like classify's output: ``n_series`` series of runs of regimes (some null), edge
    numbers in every evidence column, a few first bars with classify's own sentence."""
    rng = np.random.default_rng(seed)
    # runs of one regime: a new label with probability 0.3 per row
    change = rng.random(n) < 0.3
    label = np.array(_REGIMES)[np.cumsum(change) % len(_REGIMES)]
    regime = pl.Series("regime", label)
    if regime_nulls:
        regime = regime.scatter(rng.integers(0, n, max(1, n // 50)), None)
    series = np.sort(rng.integers(0, n_series, n))
    ts = np.zeros(n, np.int64)
    for s in range(n_series):
        k = np.flatnonzero(series == s)
        ts[k] = 1_700_000_000_000 + np.arange(k.shape[0]) * 3_600_000
    cols = horizon_columns(rng, n, 5)
    for name, scale, wild in (
        ("funding_8h", 1e-4, False),
        ("funding_chg", 1e-4, False),
        ("ls_ratio", 2.0, True),
        ("ls_z", 2.0, True),
        ("liq_burst_ratio", 1.0, False),
    ):
        cols[name] = _edgy(rng, scale, wild=wild)[:n]
    keys = rng.choice(["bar", "window", "long"], n)
    df = pl.DataFrame(cols).with_columns(
        pl.Series("venue", np.where(series == 2, "okx", "binance")),
        pl.Series("canonical", np.where(series == 1, "ETH-USDT-PERP", "BTC-USDT-PERP")),
        pl.Series("ts_ms", ts).cast(pl.Datetime("ms", "UTC")),
        pl.lit(3_600_000, pl.Int64).alias("interval_ms"),
        regime,
        pl.Series("horizon_key", keys).scatter(rng.integers(0, n, 3), None),
        pl.Series("horizon", np.where(keys == "bar", "bar", np.where(keys == "long", "3d", "1d"))),
        pl.Series("missing", rng.choice(["price change, OI, funding", "funding", "", ""], n)).replace(
            "", None
        ),
        pl.Series("liquidation_led", rng.random(n) < 0.2).scatter(rng.integers(0, n, 3), None),
        pl.Series("partial", rng.random(n) < 0.1),
        pl.Series(
            "evidence", ["classify's own sentence" if r < 0.05 else None for r in rng.random(n)], pl.String
        ),
    )
    return df.select("venue", "canonical", "ts_ms", "interval_ms", "regime", "evidence", *EVIDENCE_COLUMNS)


def _tame(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` without NaN or infinities (the rows the loop writes itself)."""
    return df.with_columns(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c)
        for c, t in df.schema.items()
        if t == pl.Float64
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tame", [False, True])
def test_in_place_is_the_general_path_on_edge_numbers(seed: int, tame: bool) -> None:
    labels = _labels(seed, 20_000)
    labels = _tame(labels) if tame else labels
    assert C._readable_in_place(C.numbered(labels))
    got, want = episodes(labels), _general(labels)
    assert want.height > 3_000
    assert want.get_column("evidence").str.starts_with("opened on: classify's own").sum() > 0
    assert_frame_equal(got, want, check_exact=True)


def test_without_evidence_and_with_it_and_another_config() -> None:
    """First bars all without evidence (classify(evidence=False)), all with it, and a config whose window
    and burst words differ: the same tables as the general path."""
    labels = _labels(5, 5_000)
    cfg = RegimeConfig(window_ms=12 * 3_600_000, burst_ratio=2.5)
    for frame in (
        labels.with_columns(pl.lit(None, pl.String).alias("evidence")),
        labels.with_columns(pl.lit("its own words").alias("evidence")),
    ):
        assert_frame_equal(episodes(frame, cfg), _general(frame, cfg), check_exact=True)
        assert_frame_equal(episodes(frame), _general(frame), check_exact=True)


def test_slices_chunks_and_long_words_read_in_place() -> None:
    """A frame sliced at a row inside a byte of the validity bitmaps, one made of several chunks, and
    regimes stored as words over 12 bytes in separate buffers (the same word at two places) read as
    the general path reads them."""
    labels = _labels(7, 6_000)
    sliced = labels.slice(13, 4_000)
    chunked = pl.concat([labels.slice(0, 2_999), labels.slice(2_999, 3_001)], rechunk=False)
    assert chunked.n_chunks() > 1
    # each regime word written anew per row (not one small buffer): same words, other places
    spread = labels.with_columns(pl.col("regime").map_elements(lambda s: f"{s}", return_dtype=pl.String))
    for frame in (sliced, chunked, spread):
        assert_frame_equal(episodes(frame), _general(frame), check_exact=True)


def test_frames_the_pass_cannot_read_take_the_general_path() -> None:
    """A column missing or of another dtype: the general path answers (the same as before)."""
    labels = _labels(9, 2_000)
    odd = labels.with_columns(pl.col("ls_ratio").cast(pl.Float32))
    assert not C._readable_in_place(C.numbered(odd))
    assert not C._readable_in_place(C.numbered(labels.drop("partial")))
    assert_frame_equal(episodes(odd), _general(odd), check_exact=True)


# Amounts up to 1e20: from 1e21 dollars on (1e12 billions, beyond the loop: the definition writes
# them) polars' own text of ``x / 1e9`` depends on how many rows it evaluates at once (one row: a true
# division, several: a product with the reciprocal; $1.2384003512845638e+16B against
# $1.238400351284564e+16B), so no order of evaluation matches it everywhere. Percentages, rates and
# ratios (no division) are drawn over the whole range.
_NUMS = st.one_of(
    st.none(),
    st.floats(min_value=-1e20, max_value=1e20, width=64) | st.sampled_from([np.nan, np.inf, -np.inf]),
    st.sampled_from([0.0, -0.0, 0.00049, -0.0005, 0.00125, 999.95, 1e3, 999_999.95, 1e9, 1e12, 1e-7]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 2),  # series
            st.sampled_from([*_REGIMES[:3], None]),
            st.sampled_from(["bar", "window", "long", None]),
            st.lists(_NUMS, min_size=22, max_size=22),
            st.lists(st.sampled_from([True, False, None]), min_size=5, max_size=5),
            st.sampled_from([None, None, "own"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_in_place_is_the_general_path_on_random_frames(rows: list[tuple]) -> None:  # type: ignore[type-arg]
    rows = sorted(rows, key=lambda r: r[0])
    floats = [f"{c}{s}" for c in C.PICKED for s in ("", "_bar", "_long")] + list(C.FIRST_BAR)
    flags = [f"liq_burst_w{s}" for s in ("", "_bar", "_long")] + ["liquidation_led", "partial"]
    data: dict[str, list[object]] = {c: [r[3][k] for r in rows] for k, c in enumerate(floats)}
    data |= {c: [r[4][k] for r in rows] for k, c in enumerate(flags)}
    df = pl.DataFrame(
        {
            "venue": ["binance"] * len(rows),
            "canonical": [f"S{r[0]}-USDT-PERP" for r in rows],
            "ts_ms": [k * 60_000 for k in range(len(rows))],
            "interval_ms": [60_000] * len(rows),
            "regime": [r[1] for r in rows],
            "evidence": [r[5] for r in rows],
            "horizon_key": [r[2] for r in rows],
            "horizon": [{"bar": "bar", "long": "3d"}.get(r[2] or "", "1d") for r in rows],
            "missing": [None if k % 3 else "price change, OI" for k in range(len(rows))],
            "liq_burst_ratio": [1.0] * len(rows),
            **data,
        },
        schema_overrides={
            "ts_ms": pl.Datetime("ms", "UTC"),
            "regime": pl.String,
            "evidence": pl.String,
            "horizon_key": pl.String,
            "missing": pl.String,
            **dict.fromkeys(floats, pl.Float64),
            **dict.fromkeys(flags, pl.Boolean),
        },
    )
    try:
        want = _general(df)
    except pl.exceptions.InvalidOperationError:  # the definition refuses a NaN it casts to an integer
        with pytest.raises(pl.exceptions.InvalidOperationError):
            episodes(df)
        return
    assert_frame_equal(episodes(df), want, check_exact=True)


def test_each_compiled_loop_and_row_writer_has_one_signature() -> None:
    """numba compiles a function once per distinct set of argument types, and on an empty cache (a new
    install's first run) each compile of a row writer or loop costs ~0.5-3 s: frames with and without
    nulls, edge or tame numbers, sliced, with first-bar evidence, without it or mixed, read in place or
    by the general path, all reach one compiled signature of each loop, and at most one of each row
    writer (the writers are compiled only with a loop: none when the loops come from numba's cache)."""
    et = sys.modules["perpscope.regimes.episode_text"]
    for seed, tame in ((0, False), (1, True)):
        labels = _labels(seed, 3000)
        labels = _tame(labels) if tame else labels
        no_evidence = labels.with_columns(pl.lit(None, pl.String).alias("evidence"))
        for frame in (labels, labels.slice(7, 2000), no_evidence, no_evidence.slice(3, 1000)):
            episodes(frame)
            _general(frame)
    for f in (et.episode_table, et.run_starts, et._openings, et._summaries, et._evidences):
        assert len(f.signatures) == 1, (f.py_func.__name__, f.signatures)
    for f in (et._opening_row, et._summary_row, et._pct, et._usd, et._fixed3, et._usd_unit):
        assert len(f.signatures) <= 1, (f.py_func.__name__, f.signatures)
