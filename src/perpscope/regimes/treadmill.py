"""The liquidation treadmill (flush → leverage rebuilt on the bounce → flush, within a range) and the
circuit breakers that end it.

Both read the flush episodes of :func:`~perpscope.regimes.classify.classify`; definitions and defaults
are in ``docs/regimes.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from perpscope.core.jit import read_only
from perpscope.core.time import interval_label, ms_to_iso
from perpscope.metrics.arrow_buffers import string_words
from perpscope.metrics.frames import TS
from perpscope.regimes.classify import classify
from perpscope.regimes.config import RegimeConfig
from perpscope.regimes.evidence_text import pct, usd
from perpscope.regimes.flow import FlowInputs, spot_volume
from perpscope.regimes.grid import prepare, remembered, rows_in, series_slices
from perpscope.regimes.grid_labels import nan_floats
from perpscope.regimes.treadmill_scan import CYCLE_FIELDS, cycles, flush_bounds, flush_stats, nan_max

_F = np.ndarray  # float64 arrays of one series


@dataclass(frozen=True)
class _Series:
    """One series' bars as arrays (``ts`` int64 ms, the rest float64 with NaN for missing)."""

    venue: str
    canonical: str
    ts: np.ndarray
    close: _F
    high: _F
    low: _F
    oi: _F
    funding: _F
    liq: _F  # liquidated USD (long + short) over the classify window ending at each bar
    liq_long: _F
    liq_short: _F
    flush: np.ndarray  # bool: bar labelled deleveraging_flush
    flush_window: np.ndarray  # bool: the window's flush condition holds (is_deleveraging_flush)


def _series(labels: pl.DataFrame, slices: list[tuple[int, int]]) -> list[_Series]:
    """The series of ``labels`` (sorted by series and time) cut at ``slices`` (:func:`series_slices`)."""
    # the treadmill and the breakers of one chunk read the same labels: their arrays are made once
    # read-only views all: the compiled scans then have one signature each (core.jit.read_only)
    cols = remembered(
        labels, "treadmill._series", lambda: {k: read_only(v) for k, v in _arrays(labels).items()}
    )
    venue, canon = labels.get_column("venue"), labels.get_column("canonical")
    return [
        _Series(str(venue[o]), str(canon[o]), **{k: v[o : o + n] for k, v in cols.items()}) for o, n in slices
    ]


def _arrays(labels: pl.DataFrame) -> dict[str, np.ndarray]:
    """The columns of :class:`_Series` over every row of ``labels``."""

    def arr(col: str) -> _F:
        if col not in labels.columns:
            return np.full(labels.height, np.nan)
        # read from the column's Arrow buffers (polars' fill_null + to_numpy: 3× the time)
        return nan_floats(labels.get_column(col))

    close = arr("close")
    hi, lo = arr("high"), arr("low")
    liq_long, liq_short = arr("liq_long_w_usd"), arr("liq_short_w_usd")
    return {
        "ts": _epoch_ms(labels.get_column("ts_ms")),
        "close": close,
        "high": _or_close(hi, close),
        "low": _or_close(lo, close),
        "oi": arr("oi"),
        "funding": arr("funding_8h"),
        "liq": _known_sum(liq_long, liq_short),
        "liq_long": liq_long,
        "liq_short": liq_short,
        "flush": _is_flush(labels.get_column("regime")),
        "flush_window": (
            labels.get_column("is_deleveraging_flush").fill_null(False).to_numpy()
            if "is_deleveraging_flush" in labels.columns
            else _is_flush(labels.get_column("regime"))
        ),
    }


def _epoch_ms(ts: pl.Series) -> np.ndarray:
    """``ts`` (Datetime) in ms since the epoch: a Datetime in ms is that number, read in place (its
    ``dt.epoch("ms")`` is a copy); another unit is converted."""
    if isinstance(ts.dtype, pl.Datetime) and ts.dtype.time_unit == "ms":
        return ts.to_physical().to_numpy()
    return ts.dt.epoch("ms").to_numpy()


def _or_close(x: _F, close: _F) -> _F:
    """``x`` where known, else ``close`` (``x`` itself where it has no NaN: most panels' highs and lows)."""
    missing = np.isnan(x)
    return np.where(missing, close, x) if missing.any() else x


def _known_sum(a: _F, b: _F) -> _F:
    """``nan_to_num(a) + nan_to_num(b)`` (NaN read as 0, infinities as the largest doubles), summed as they
    are where the sum is finite and by that definition on the few rows where it is not (a NaN or an
    infinity in, or an overflow): the same doubles at a third of the time."""
    with np.errstate(invalid="ignore", over="ignore"):  # those rows are summed again below
        out = a + b
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.shape[0]:
        out[bad] = np.nan_to_num(a[bad]) + np.nan_to_num(b[bad])
    return out


_FLUSH = "deleveraging_flush"


def _is_flush(regime: pl.Series) -> np.ndarray:
    """``regime == "deleveraging_flush"`` (null: False) as a numpy bool array. The rows whose string view
    holds its length and first four bytes are compared as text; no other row can hold it (the
    comparison of every row's text cost 1 ms per 420 k rows)."""
    words = string_words(regime) if regime.dtype == pl.String else None
    if words is None:
        return (regime == _FLUSH).fill_null(False).to_numpy()
    text = _FLUSH.encode()  # a view's first word: its length, then its first four bytes
    key = np.uint64(len(text)) | np.uint64(int.from_bytes(text[:4], "little")) << np.uint64(32)
    rows = np.flatnonzero(words[:, 0] == key)
    out = np.zeros(regime.len(), np.bool_)
    out[rows] = (regime.gather(rows) == _FLUSH).fill_null(False).to_numpy()
    return out


def _flushes(s: _Series, gap_ms: int) -> list[tuple[int, int]]:
    """(first, last) bar index of each flush: flush bars closer than ``gap_ms`` are one flush, and the
    flush dated at a bar lasts while its window's condition still holds on the next bars (the label is
    dated to the bars that carried the liquidations; the event's end, from which the breakers measure
    what came after, is where the day stops reading a flush)."""
    first, last = flush_bounds(s.ts, s.flush, s.flush_window, gap_ms)
    return list(zip(first.tolist(), last.tolist(), strict=True))


def _nanmax(a: _F) -> float:
    return float(nan_max(read_only(a), 0, a.size))


def _opt(x: float) -> float | None:
    return None if np.isnan(x) else x


def _day(t: int) -> str:
    return ms_to_iso(int(t))[:16].replace("T", " ")


def _flush_stats(s: _Series, f: tuple[int, int], until: int, n: int) -> dict[str, float]:
    """OI before (peak of the window before the flush) and after (low up to a window after), etc."""
    keys = ("oi_pre", "oi_post", "liq_long", "liq_peak", "funding_min", "funding_pre")
    nums = flush_stats(s.oi, s.funding, s.liq, s.liq_long, f[0], f[1], until, n)
    return {k: float(v) for k, v in zip(keys, nums, strict=True)}


_SCHEMA = {
    "venue": pl.Utf8,
    "canonical": pl.Utf8,
    "chain": pl.Int64,
    "cycle": pl.Int64,
    "cycles": pl.Int64,
    "treadmill": pl.Boolean,
    "flush_start_ms": pl.Int64,
    "flush_end_ms": pl.Int64,
    "flush_oi_chg": pl.Float64,
    "flush_liq_long_usd": pl.Float64,
    "rebuild_peak_ms": pl.Int64,
    "rebuilt_share": pl.Float64,
    "rebuilt_oi_chg": pl.Float64,
    "funding_min_8h": pl.Float64,
    "funding_max_8h": pl.Float64,
    "bounce": pl.Float64,
    "next_flush_start_ms": pl.Int64,
    "next_flush_end_ms": pl.Int64,
    "range_low": pl.Float64,
    "range_high": pl.Float64,
    "evidence": pl.Utf8,
}


def _cycles(
    s: _Series, fl: list[tuple[int, int]], n: int, cfg: RegimeConfig
) -> list[dict[str, object] | None]:
    """Per pair of consecutive flushes ``f = [a, b]`` → ``g = [c, d]`` of ``s``: the cycle's row when it
    meets every condition, else None (the numbers: :func:`perpscope.regimes.treadmill_scan.cycles`).

    Bounded in time (docs/regimes.md): the next flush within ``cycle_max_ms`` of this one's end, the
    leverage rebuilt within ``rebuild_within_ms`` of it — unbounded, a cycle ran three months (BTC 4 Jul
    → 10 Oct 2025) and "rebuilt" meant whatever OI peak came in between. The bounce is measured off the
    flush's low: a bounce that rebuilt leverage but closed below the flush's last close is still a bounce
    (the issue's case: no real sequence counted before). The seed's terms: a flush that removed leverage
    (OI in coins down at least ``oi_move``: the rebuilt share of a loss within OI's day-to-day noise is
    noise), leverage rebuilt on the bounce, funding supportive *again* (it fell below ``funding_up_8h``
    around the flush, then reached it), both flushes long flushes, the whole within ``range_max``.
    """
    first = np.array([f[0] for f in fl], dtype=np.int64)
    last = np.array([f[1] for f in fl], dtype=np.int64)
    ok, nums = cycles(
        s.ts,
        s.close,
        s.high,
        s.low,
        s.oi,
        s.funding,
        s.liq,
        s.liq_long,
        s.liq_short,
        first,
        last,
        n,
        cfg.cycle_max_ms,
        cfg.rebuild_within_ms,
        cfg.oi_move,
        cfg.rebuild_min,
        cfg.funding_up_8h,
        cfg.price_move,
        cfg.range_max,
    )
    out: list[dict[str, object] | None] = []
    for j in range(ok.shape[0]):
        if not ok[j]:
            out.append(None)
            continue
        r = dict(zip(CYCLE_FIELDS, nums[j].tolist(), strict=True))
        (a, b), (c, d) = fl[j], fl[j + 1]
        out.append(
            {
                "venue": s.venue,
                "canonical": s.canonical,
                "flush_start_ms": int(s.ts[a]),
                "flush_end_ms": int(s.ts[b]),
                "flush_oi_chg": r["flush_oi_chg"],
                "flush_liq_long_usd": _opt(r["flush_liq_long_usd"]),
                "rebuild_peak_ms": int(s.ts[int(r["rebuild_peak"])]),
                "rebuilt_share": r["rebuilt_share"],
                "rebuilt_oi_chg": r["rebuilt_oi_chg"],
                "funding_min_8h": _opt(r["funding_min_8h"]),
                "funding_max_8h": _opt(r["funding_max_8h"]),
                "bounce": r["bounce"],
                "next_flush_start_ms": int(s.ts[c]),
                "next_flush_end_ms": int(s.ts[d]),
                "range_low": r["range_low"],
                "range_high": r["range_high"],
            }
        )
    return out


def _cycle_evidence(r: dict[str, object], cfg: RegimeConfig) -> str:
    """The sentence of one cycle row of :func:`_cycle`."""
    g = r.get
    lo, hi = float(g("range_low")), float(g("range_high"))  # type: ignore[arg-type]
    return (
        f"flush {_day(g('flush_start_ms'))} → {_day(g('flush_end_ms'))}: OI {pct(g('flush_oi_chg'))}, "  # type: ignore[arg-type]
        f"long liq {usd(g('flush_liq_long_usd'))} / {interval_label(cfg.window_ms)}; rebuilt "  # type: ignore[arg-type]
        f"{float(g('rebuilt_share')) * 100:.0f}% of it by {_day(g('rebuild_peak_ms'))} "  # type: ignore[arg-type]
        f"(OI {pct(g('rebuilt_oi_chg'))}), bounce {pct(g('bounce'))} off the flush low, "  # type: ignore[arg-type]
        f"funding {pct(g('funding_min_8h'), 3)} → {pct(g('funding_max_8h'), 3)} per 8h; "  # type: ignore[arg-type]
        f"next flush {_day(g('next_flush_start_ms'))}; range {lo:,.6g}–{hi:,.6g} ({pct(hi / lo - 1)})"  # type: ignore[arg-type]
    )


def _chained(s: _Series, n: int, cfg: RegimeConfig) -> list[dict[str, object]]:
    """The cycles of one series, numbered into chains of consecutive cycles (``chain``, ``cycle``,
    ``cycles``, ``treadmill``) with their evidence."""
    fl = _flushes(s, cfg.flush_gap_ms)
    out: list[dict[str, object]] = []
    chain, in_chain, last_ok = 0, 0, False
    for row in _cycles(s, fl, n, cfg):
        if row is None:
            last_ok = False
            continue
        if not last_ok:
            chain, in_chain = chain + 1, 0
        in_chain, last_ok = in_chain + 1, True
        out.append({**row, "chain": chain, "cycle": in_chain, "evidence": _cycle_evidence(row, cfg)})
    sizes: dict[object, int] = {}
    for r in out:
        sizes[r["chain"]] = max(sizes.get(r["chain"], 0), int(r["cycle"]))  # type: ignore[call-overload]
    for r in out:
        r["cycles"] = sizes[r["chain"]]
        r["treadmill"] = sizes[r["chain"]] >= cfg.min_cycles
    return out


def treadmill(panel: pl.DataFrame, config: RegimeConfig | None = None) -> pl.DataFrame:
    """Detect liquidation-treadmill cycles: flush, leverage rebuilt on the bounce, funding turning
    supportive, then another long flush, all within a price range.

    Parameters
    ----------
    panel : polars.DataFrame
        A metrics panel (or the output of :func:`~perpscope.regimes.classify.classify`, used as is).
    config : RegimeConfig, optional
        ``flush_gap_ms``, ``rebuild_min``, ``rebuild_within_ms``, ``cycle_max_ms``, ``funding_up_8h``,
        ``price_move``, ``range_max``, ``min_cycles`` and the classify thresholds.

    Returns
    -------
    polars.DataFrame
        One row per cycle (flush *i* → flush *i + 1*) that meets every condition, with ``venue,
        canonical, chain`` (1, 2, … per series: consecutive cycles sharing flushes), ``cycle`` (its number
        in the chain), ``cycles`` (the chain's length), ``treadmill`` (``cycles ≥ min_cycles``),
        ``flush_start_ms, flush_end_ms`` (the first flush's bars), ``flush_oi_chg`` (OI after / before
        the flush − 1, coins), ``flush_liq_long_usd`` (largest window sum of long liquidations in it),
        ``rebuild_peak_ms``, ``rebuilt_share`` (share of the flushed OI rebuilt by the peak),
        ``rebuilt_oi_chg`` (peak / after-flush OI − 1), ``funding_min_8h, funding_max_8h`` (the turn),
        ``bounce`` (best close after the flush / its lowest low − 1), ``next_flush_start_ms,
        next_flush_end_ms``, ``range_low, range_high`` and ``evidence``.

    Notes
    -----
    A cycle from flush *i* (bars ``[a, b]``) to flush *i + 1* (``[c, d]``) holds when *i + 1* starts
    at most ``cycle_max_ms`` after ``b`` and, on the bars between them: the OI peak within
    ``rebuild_within_ms`` after ``b`` rebuilds at least ``rebuild_min`` of the OI the flush removed
    (``OI_pre`` = the highest OI in the window before the flush, ``OI_post`` = the lowest from its start to a
    window after it) — leverage rebuilt on the bounce; the close bounces at least ``price_move`` off
    the flush's lowest low (a bounce that stays below the flush's last close still counts); funding
    turns supportive again: it reaches ``funding_up_8h`` from a lower minimum around the flush; both
    flushes are long flushes (``deleveraging_flush`` whose bar with the most liquidations liquidated at
    least as many longs as shorts, when liquidations are known); and ``high / low − 1`` over ``[a, d]`` is at
    most ``range_max``.
    """
    cfg = config or RegimeConfig()
    labels = panel if "regime" in panel.columns else classify(panel, cfg)
    labels, step = prepare(labels, "treadmill")
    rows: list[dict[str, object]] = []
    for s in _series(labels, series_slices(labels)):
        bar = step or (int(np.median(np.diff(s.ts))) if s.ts.size > 1 else cfg.window_ms)
        rows.extend(_chained(s, rows_in(cfg.window_ms, bar), cfg))
    out = (
        pl.DataFrame([{k: r[k] for k in _SCHEMA} for r in rows], schema=_SCHEMA, orient="row")
        if rows
        else pl.DataFrame(schema=_SCHEMA)
    )
    ms_cols = [c for c in out.columns if c.endswith("_ms")]
    return out.with_columns([pl.col(c).cast(TS) for c in ms_cols])


def _breaker(
    s: _Series, check: str, engaged: bool | None, value: float | None, threshold: float, ev: str
) -> dict[str, object]:
    return {
        "venue": s.venue,
        "canonical": s.canonical,
        "as_of_ms": int(s.ts[-1]),
        "check": check,
        "engaged": engaged,
        "value": value,
        "threshold": threshold,
        "evidence": ev,
    }


def _anchor(s: _Series, fl: list[tuple[int, int]], cfg: RegimeConfig) -> tuple[int, int]:
    """The flush the breaker is measured from: the largest (by its liquidation window) of the latest
    episode — the flushes each less than ``episode_gap_ms`` after the one before, up to the last. A
    week of smaller aftershocks after a large flush is the end of that flush, not a new start."""
    first = len(fl) - 1
    while first > 0 and s.ts[fl[first][0]] - s.ts[fl[first - 1][1]] <= cfg.episode_gap_ms:
        first -= 1
    episode = fl[first:]
    peaks = [_nanmax(s.liq[a : b + 1]) for a, b in episode]
    best = max(range(len(episode)), key=lambda i: -1.0 if np.isnan(peaks[i]) else peaks[i])
    return episode[best]


def _sustained(s: _Series, cfg: RegimeConfig, n: int) -> dict[str, object]:
    fl = _flushes(s, cfg.flush_gap_ms)
    name = "sustained_deleveraging"
    if not fl:
        return _breaker(
            s, name, None, None, cfg.oi_move, "no deleveraging flush in the panel: nothing to sustain"
        )
    anchor = _anchor(s, fl, cfg)
    a, b = anchor
    last = s.ts.size - 1
    st = _flush_stats(s, anchor, last, n)
    if b + n >= last:
        return _breaker(
            s,
            name,
            None,
            None,
            cfg.oi_move,
            f"largest flush of the latest episode {_day(s.ts[a])} → {_day(s.ts[b])} is less than a "
            "window old: too soon to tell",
        )
    oi_now, f_now = float(s.oi[last]), float(s.funding[last])
    oi_chg = oi_now / st["oi_pre"] - 1.0
    oi_ok = oi_chg <= -cfg.oi_move
    f_ok = (
        abs(f_now) <= st["funding_pre"] if not np.isnan(f_now) and not np.isnan(st["funding_pre"]) else False
    )
    liq_after = _nanmax(s.liq[b + n + 1 :])
    liq_ok = liq_after < cfg.calm_share * st["liq_peak"] if not np.isnan(liq_after) else False
    ev = (
        f"since the largest flush of the episode, {_day(s.ts[a])}: OI {pct(oi_chg)} vs before it "
        f"(needs ≤ {pct(-cfg.oi_move)}: "
        f"{'yes' if oi_ok else 'no'}), funding {pct(f_now, 3)} per 8h vs {pct(st['funding_pre'], 3)} at most "
        f"before ({'less extreme' if f_ok else 'not less extreme'}), largest liquidation window since "
        f"{usd(_opt(liq_after))} vs {usd(_opt(st['liq_peak']))} in the flush "
        f"({'smaller' if liq_ok else 'not smaller'} than {cfg.calm_share:.0%})"
    )
    return _breaker(s, name, bool(oi_ok and f_ok and liq_ok), oi_chg, -cfg.oi_move, ev)


def circuit_breakers(
    panel: pl.DataFrame,
    config: RegimeConfig | None = None,
    *,
    labels: pl.DataFrame | None = None,
    flows: FlowInputs | None = None,
) -> pl.DataFrame:
    """The checks that end a liquidation treadmill, at each series' last bar, with their evidence.

    Parameters
    ----------
    panel : polars.DataFrame
        A metrics panel (``close``, OI, funding, liquidations; spot and taker columns for the flow check).
    config : RegimeConfig, optional
        Thresholds (``oi_move``, ``calm_share``, ``flow_window_ms``, ``ratio_fall``, ``vol_window_ms``,
        ``vol_change``).
    labels : polars.DataFrame, optional
        ``classify(panel, config)`` (evidence or not) when the caller already has it: skips classifying
        the panel again. Must hold the panel's bars.
    flows : FlowInputs, optional
        The spot and institutional side (ETF flows, stablecoin supply, perp/spot volume from candles, CME
        positioning). When given, ``spot_led_flow``'s evidence adds what each said as public at the last
        bar's end and names the inputs missing or stale; where the panel has no spot volume, the check is
        read from them instead (see ``spot_led_flow`` below).

    Returns
    -------
    polars.DataFrame
        Three rows per series: ``venue, canonical, as_of_ms, check, engaged, value, threshold,
        evidence``, with ``check`` one of

        - ``sustained_deleveraging``: after the last flush, OI (coins) stays at least ``oi_move`` below
          its pre-flush peak, ``|funding|`` is at most its largest pre-flush value, and the largest
          liquidation window after it is below ``calm_share`` of the flush's (``value`` = OI change);
        - ``spot_led_flow``: the perp/spot volume ratio of the last ``flow_window`` fell at least
          ``ratio_fall`` against the window before, and spot takers were net buyers over it (``value``
          = the ratio's change). Without spot volume in the panel and with ``flows``: engaged when the
          24 h perp/spot ratio from candles is falling against the day before, the ETF 5-session flow is
          positive and stablecoin supply grew over 7 days (``value`` = the ratio's change); null, naming
          the missing inputs, when any of the three is missing;
        - ``volatility_regime``: realized volatility (std of bar log returns) of the last
          ``flow_window`` over that of the ``vol_window`` before it is ``≥ vol_change`` or
          ``≤ 1 / vol_change`` (``value`` = the ratio).

        ``engaged`` is null where the data cannot tell (the evidence says why).
    """
    cfg = config or RegimeConfig()
    df, step = prepare(panel, "circuit_breakers")
    if labels is None:
        labels = classify(df, cfg, evidence=False)  # the breakers write their own evidence
    else:
        labels = prepare(labels, "circuit_breakers")[0]
        if labels.height != df.height:
            raise ValueError(
                f"circuit_breakers: labels has {labels.height} rows, the panel {df.height}; pass "
                "classify(panel) of this panel, or no labels"
            )
    slices = series_slices(df)
    flow_cols = [
        (
            pl.col("volume_usd").cast(pl.Float64) if "volume_usd" in df.columns else pl.lit(None, pl.Float64)
        ).alias("pv"),
        spot_volume(df).alias("sv"),
        (
            pl.col("spot_taker_delta_usd")
            if "spot_taker_delta_usd" in df.columns
            else pl.lit(None, pl.Float64)
        ).alias("sd"),
    ]
    series = _series(labels, slices)
    bars = [step or (int(np.median(np.diff(s.ts))) if s.ts.size > 1 else cfg.window_ms) for s in series]
    # the spot-led check reads the series' last two flow windows only: the volumes of those bars, of
    # every series in one select (one per series cost 0.3-0.5 ms each)
    tails = [min(size, 2 * rows_in(cfg.flow_window_ms, b)) for (_, size), b in zip(slices, bars, strict=True)]
    ends = [o + size for o, size in slices]
    at = np.concatenate([np.arange(end - k, end) for end, k in zip(ends, tails, strict=True)])
    inputs = [c for c in ("ts_ms", *_FLOW_INPUTS) if c in df.columns]  # ts_ms: the rows, whatever is absent
    parts = df.select(inputs).gather(at).select(flow_cols)
    rows: list[dict[str, object]] = []
    done = 0
    for s, bar, tail in zip(series, bars, tails, strict=True):
        n = rows_in(cfg.window_ms, bar)
        m = rows_in(cfg.flow_window_ms, bar)
        part = parts.slice(done, tail)
        done += tail
        rows.append(_sustained(s, cfg, n))
        rows.append(_spot_led(s, part, cfg, m, flows, bar))
        rows.append(_vol_regime(s, cfg, m, rows_in(cfg.vol_window_ms, bar)))
    schema = {
        "venue": pl.Utf8,
        "canonical": pl.Utf8,
        "as_of_ms": pl.Int64,
        "check": pl.Utf8,
        "engaged": pl.Boolean,
        "value": pl.Float64,
        "threshold": pl.Float64,
        "evidence": pl.Utf8,
    }
    out = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return out.with_columns(pl.col("as_of_ms").cast(TS))


#: The panel columns the breakers' flow check reads (``flow_cols`` in :func:`circuit_breakers`).
_FLOW_INPUTS = ("volume_usd", "spot_volume_usd", "spot_taker_delta_usd", "spot_taker_imbalance")


def _spot_led(
    s: _Series, part: pl.DataFrame, cfg: RegimeConfig, m: int, flows: FlowInputs | None, bar: int
) -> dict[str, object]:
    row = _spot_led_panel(s, part, cfg, m)
    if flows is None:
        return row
    # the last bar's end: every flow input as it was public then (flow_evidence reads known_ms <= t)
    fe = flows.at(int(s.ts[-1]) + bar)
    ev = f"{row['evidence']}; flows public at {_day(fe.t_ms)}: {fe.text()}"
    if row["engaged"] is None and fe.perp_spot_ratio is not None:
        # the panel has no spot volume: the check is read from the flows (perp/spot from candles, day
        # over day; the institutional side's fuel, ETF and stablecoin inflows, confirming)
        ev = f"panel {ev}"  # "panel n/a: …": the panel could not tell, the flows decide
        prev, now = fe.perp_spot_ratio_day_before, fe.perp_spot_ratio
        row["value"] = now / prev - 1.0 if prev else None
        falling = fe.perp_spot_direction == "falling"
        etf_in = fe.etf_5d_usd is not None and fe.etf_5d_usd > 0
        stable_in = fe.stablecoin_7d is not None and fe.stablecoin_7d > 0
        known = (
            fe.perp_spot_direction is not None and fe.etf_5d_usd is not None and fe.stablecoin_7d is not None
        )
        ev += (
            f" — read from the flows: perp/spot {'falling' if falling else 'not falling'}, ETF "
            f"{'inflow' if etf_in else 'no inflow' if fe.etf_5d_usd is not None else 'n/a'}, stablecoin "
            f"supply {'growing' if stable_in else 'not growing' if fe.stablecoin_7d is not None else 'n/a'}"
        )
        row["engaged"] = bool(falling and etf_in and stable_in) if known else None
    row["evidence"] = ev
    return row


def _spot_led_panel(s: _Series, part: pl.DataFrame, cfg: RegimeConfig, m: int) -> dict[str, object]:
    name = "spot_led_flow"
    pv = part.get_column("pv").fill_null(float("nan")).to_numpy()
    sv = part.get_column("sv").fill_null(float("nan")).to_numpy()
    sd = part.get_column("sd").fill_null(float("nan")).to_numpy()
    if pv.size < 2 * m or np.all(np.isnan(sv[-2 * m :])):
        return _breaker(
            s, name, None, None, -cfg.ratio_fall, "n/a: needs two flow windows of perp and spot volume"
        )
    ok = ~np.isnan(pv) & ~np.isnan(sv)
    last, prev = slice(pv.size - m, pv.size), slice(pv.size - 2 * m, pv.size - m)

    def ratio(sl: slice) -> float:
        p, q = pv[sl][ok[sl]], sv[sl][ok[sl]]
        return float(p.sum() / q.sum()) if q.size and q.sum() > 0 else float("nan")

    r_now, r_before = ratio(last), ratio(prev)
    chg = r_now / r_before - 1.0
    delta = float(np.nansum(sd[last])) if not np.all(np.isnan(sd[last])) else float("nan")
    falling = bool(chg <= -cfg.ratio_fall)
    buying = bool(delta > 0)
    w = interval_label(cfg.flow_window_ms)
    ev = (
        f"perp/spot volume {r_now:.2f} over the last {w} vs {r_before:.2f} the {w} before ({pct(chg)}, "
        f"needs ≤ {pct(-cfg.ratio_fall)}: {'falling' if falling else 'not falling'}); spot taker net "
        f"{usd(_opt(delta))} ({'buying' if buying else 'not buying'})"
    )
    if np.isnan(chg):
        return _breaker(s, name, None, None, -cfg.ratio_fall, ev)
    return _breaker(s, name, falling and buying and not np.isnan(delta), chg, -cfg.ratio_fall, ev)


def _vol_regime(s: _Series, cfg: RegimeConfig, m: int, k: int) -> dict[str, object]:
    name = "volatility_regime"
    if s.close.size - 1 < m + 10:
        return _breaker(s, name, None, None, cfg.vol_change, "n/a: too few bars for a volatility window")
    # the log returns of the last m + k bars only, the ones read (elementwise: the same numbers as the
    # whole series', a tenth of the work on a year of 5m bars)
    r = np.diff(np.log(s.close[max(0, s.close.size - (m + k + 1)) :]))
    now, base = r[-m:], r[max(0, r.size - m - k) : r.size - m]
    v_now, v_base = (
        float(np.nanstd(now, ddof=1)),
        float(np.nanstd(base, ddof=1)) if base.size > 2 else float("nan"),
    )
    ratio = v_now / v_base if v_base > 0 else float("nan")
    if np.isnan(ratio):
        return _breaker(s, name, None, None, cfg.vol_change, "n/a: no volatility baseline")
    changed = ratio >= cfg.vol_change or ratio <= 1.0 / cfg.vol_change
    ev = (
        f"realized volatility per bar {v_now * 100:.2f}% over the last "
        f"{interval_label(cfg.flow_window_ms)} vs "
        f"{v_base * 100:.2f}% over the {interval_label(cfg.vol_window_ms)} before (× {ratio:.2f}; a change "
        f"needs ≥ × {cfg.vol_change:g} or ≤ × {1 / cfg.vol_change:.2f})"
    )
    return _breaker(s, name, bool(changed), ratio, cfg.vol_change, ev)
