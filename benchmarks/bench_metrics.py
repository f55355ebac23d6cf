"""Metrics + regimes benchmark: every metric of the panel and every regime table for 300 symbols × one
year of 5-minute bars (issue 4: under 30 s on this 2-core machine, memory bounded).

Inputs are synthetic (seeded random walks shaped like the records: perp and spot 5m trade candles with
taker volume, 8h funding, 5m open interest, three 5m long/short ratio series, liquidation events);
only their shape and magnitudes matter to throughput. 300 × 105,120 = 31.5 million bars.

The symbols are processed in small chunks by worker processes, the way the project runs batch work (a
function of one partition, DESIGN.md "Scale"), so memory is bounded by one chunk per process. Only
:func:`perpscope.metrics.build_panel` and the regimes (:func:`regimes_of`) are timed; building the
synthetic inputs is not. The reference is a straightforward pandas implementation of the same metrics
(groupby/rolling/merge_asof) and of the regime classification (:func:`pandas_classify`), run on a
subset of symbols in one process and scaled per bar; the pandas labels are checked against ours. The
reference runs between the rounds of the timed run (the workers wait), several times spread over it,
so that it meets the same drifting load as ours; the one-process comparisons below take turns
(:func:`benchmarks.common.best_of_each`).
The reference covers ``classify`` only: episodes, treadmill, breakers and the flow hierarchy have no
pandas twin (they are per-series loops and rolling correlations that would not change the picture).

Usage: ``python -m benchmarks.bench_metrics [n_symbols]`` (default 300; e.g. 20 for a quick run).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import resource
import time
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import polars as pl

from benchmarks.common import T0, Result, best_of_each
from perpscope.cluster.kernels import JOB_KERNELS
from perpscope.cluster.worker_env import spawn_environ
from perpscope.core.kernel_cache import load_cached_kernels, start_loading
from perpscope.core.time import DAY_MS, HOUR_MS, MINUTE_MS, WEEK_MS
from perpscope.metrics import PanelConfig, build_panel
from perpscope.regimes import circuit_breakers, classify, episodes, flow_hierarchy, treadmill
from perpscope.regimes.grid import shared_preparation

EVERY = 5 * MINUTE_MS
BARS_PER_YEAR = 365 * 24 * 12
TS = pl.Datetime("ms", "UTC")


def synthetic_records(
    symbols: list[str], n_bars: int = BARS_PER_YEAR, seed: int = 0
) -> dict[str, pl.DataFrame]:
    """Record frames for ``symbols`` (Binance-like perps with a spot market), ``n_bars`` 5-minute bars each.

    Values are synthetic (seeded); columns and dtypes are the records'.
    """
    rng = np.random.default_rng(seed)
    n_sym = len(symbols)
    n = n_sym * n_bars
    ts = np.tile(T0 + np.arange(n_bars, dtype=np.int64) * EVERY, n_sym)
    sym = np.repeat(np.array(symbols, dtype=object), n_bars)
    start = np.repeat(rng.uniform(0.1, 50_000, n_sym), n_bars)
    steps = rng.normal(0, 0.0015, (n_sym, n_bars))
    close = start * np.exp(np.cumsum(steps, axis=1).ravel())
    open_ = np.roll(close, 1)
    open_[::n_bars] = close[::n_bars]
    spread = np.abs(rng.normal(0, 0.001, n)) * close
    vol = rng.gamma(2.0, 50.0, n)
    buy = vol * rng.uniform(0.3, 0.7, n)

    def candles(market: str, scale: float, suffix: str) -> pl.DataFrame:
        v = vol * scale
        return pl.DataFrame(
            {
                "venue": "binance",
                "symbol": sym,
                "canonical": np.char.add(sym.astype(str), suffix),
                "market": market,
                "price_type": "trade",
                "interval_ms": EVERY,
                "ts_ms": ts,
                "open": open_,
                "high": np.maximum(open_, close) + spread,
                "low": np.minimum(open_, close) - spread,
                "close": close * (1.0 if market == "perp" else 0.9995),
                "volume_base": v,
                "volume_quote": v * close,
                "trades": rng.integers(10, 5000, n),
                "taker_buy_base": buy * scale,
                "taker_buy_quote": buy * scale * close,
            }
        ).with_columns(pl.col("ts_ms").cast(TS))

    perp_canon = np.char.add(sym.astype(str), "-USDT-PERP")
    n_f = n_bars // 96
    f_idx = np.arange(n_f) * 96
    sel = (np.arange(n_sym)[:, None] * n_bars + f_idx[None, :]).ravel()
    funding = pl.DataFrame(
        {
            "venue": "binance",
            "symbol": sym[sel],
            "canonical": perp_canon[sel],
            "ts_ms": ts[sel] + 8 * HOUR_MS,
            "rate": 0.0001 + rng.normal(0, 0.0001, sel.size),
            "interval_ms": 8 * HOUR_MS,
            "mark_price": close[sel],
        }
    ).with_columns(pl.col("ts_ms").cast(TS))
    oi_base = np.repeat(rng.uniform(1e4, 1e7, n_sym), n_bars) * np.exp(
        np.cumsum(rng.normal(0, 1e-3, n)) * 0.1
    )
    oi_base = np.minimum(oi_base, oi_base)  # shape only
    open_interest = pl.DataFrame(
        {
            "venue": "binance",
            "symbol": sym,
            "canonical": perp_canon,
            "interval_ms": EVERY,
            "ts_ms": ts + EVERY,  # known at the end of the 5-minute period
            "oi_base": oi_base,
            "oi_usd": oi_base * close,
        }
    ).with_columns(pl.col("ts_ms").cast(TS))
    kinds = ("global_accounts", "top_accounts", "top_positions")
    ratios = pl.concat(
        [
            pl.DataFrame(
                {
                    "venue": "binance",
                    "symbol": sym,
                    "canonical": perp_canon,
                    "kind": k,
                    "interval_ms": EVERY,
                    "ts_ms": ts + EVERY,
                    "ratio": np.exp(rng.normal(0.2, 0.3, n)),
                }
            )
            for k in kinds
        ]
    ).with_columns(
        pl.col("ts_ms").cast(TS),
        (pl.col("ratio") / (1 + pl.col("ratio"))).alias("long_share"),
        (1 / (1 + pl.col("ratio"))).alias("short_share"),
    )
    n_liq = n // 10  # one liquidation every ~50 minutes per symbol on average
    li = np.sort(rng.integers(0, n, n_liq))
    liqs = pl.DataFrame(
        {
            "venue": "binance",
            "symbol": sym[li],
            "canonical": perp_canon[li],
            "ts_ms": ts[li] + rng.integers(0, EVERY, n_liq),
            "side": np.where(rng.random(n_liq) < 0.5, "long", "short"),
            "price": close[li],
            "qty_base": rng.gamma(1.0, 2.0, n_liq),
        }
    ).with_columns(pl.col("ts_ms").cast(TS), (pl.col("price") * pl.col("qty_base")).alias("notional_usd"))
    return {
        "candles": pl.concat([candles("perp", 1.0, "-USDT-PERP"), candles("spot", 0.15, "-USDT-SPOT")]),
        "funding": funding,
        "open_interest": open_interest,
        "long_short_ratios": ratios,
        "liquidations": liqs,
    }


# -- the pandas reference: the same metrics, written the straightforward way -----------------------------


def pandas_panel(rec: dict[str, pl.DataFrame]) -> pd.DataFrame:
    """The panel's metrics in plain pandas (groupby / rolling / merge_asof), for the ratio."""
    c = rec["candles"].to_pandas()
    keys = ["venue", "canonical"]
    perp = c[c["market"] == "perp"].copy()
    spot = c[c["market"] == "spot"].copy()
    perp["pair"] = perp["canonical"].str.replace("-PERP", "")
    spot["pair"] = spot["canonical"].str.replace("-SPOT", "")
    p = perp[[*keys, "pair", "ts_ms", "close", "volume_base", "volume_quote", "taker_buy_quote"]].rename(
        columns={"volume_quote": "volume_usd"}
    )
    p["taker_delta_usd"] = 2 * p["taker_buy_quote"] - p["volume_usd"]
    p["taker_imbalance"] = p["taker_delta_usd"] / p["volume_usd"]
    p = p.sort_values([*keys, "ts_ms"])
    p["cvd_usd"] = p.groupby(keys)["taker_delta_usd"].cumsum()
    s = spot[["venue", "pair", "ts_ms", "close", "volume_quote", "taker_buy_quote"]].rename(
        columns={"close": "spot_close", "volume_quote": "spot_volume_usd"}
    )
    s["spot_taker_delta_usd"] = 2 * s["taker_buy_quote"] - s["spot_volume_usd"]
    s = s.sort_values(["venue", "pair", "ts_ms"])
    s["spot_cvd_usd"] = s.groupby(["venue", "pair"])["spot_taker_delta_usd"].cumsum()
    p = p.merge(s.drop(columns="taker_buy_quote"), on=["venue", "pair", "ts_ms"], how="left")
    p["perp_spot_ratio"] = p["volume_usd"] / p["spot_volume_usd"]
    p["perp_share"] = p["volume_usd"] / (p["volume_usd"] + p["spot_volume_usd"])
    p["basis_spot"] = p["close"] / p["spot_close"] - 1
    p["bar_end"] = (p["ts_ms"] + pd.Timedelta(milliseconds=EVERY)).astype(p["ts_ms"].dtype)
    p = p.sort_values("bar_end")
    # funding: settlement metrics, then as-of onto bars
    f = rec["funding"].to_pandas().sort_values([*keys, "ts_ms"])
    f["rate_8h"] = f["rate"] * 8 * HOUR_MS / f["interval_ms"]
    f["rate_apr"] = f["rate"] * 365 * DAY_MS / f["interval_ms"]
    g = f.groupby(keys)["rate_8h"]
    mean = g.transform(lambda x: x.rolling(90, min_periods=30).mean().shift(1))
    std = g.transform(lambda x: x.rolling(90, min_periods=30).std().shift(1))
    f["funding_z"] = (f["rate_8h"] - mean) / std
    f["sign"] = np.sign(f["rate"])
    f["run"] = (f["sign"] != f.groupby(keys)["sign"].shift()).cumsum()
    f["funding_run"] = f.groupby([*keys, "run"]).cumcount() + 1
    f = f.sort_values("ts_ms")
    p = pd.merge_asof(
        p,
        f[[*keys, "ts_ms", "rate", "rate_8h", "rate_apr", "funding_z", "funding_run"]].rename(
            columns={"ts_ms": "funding_ts"}
        ),
        left_on="bar_end",
        right_on="funding_ts",
        by=keys,
    )
    # open interest
    oi = rec["open_interest"].to_pandas().sort_values("ts_ms")
    p = pd.merge_asof(
        p,
        oi[[*keys, "ts_ms", "oi_base", "oi_usd"]].rename(columns={"ts_ms": "oi_ts"}),
        left_on="bar_end",
        right_on="oi_ts",
        by=keys,
    )
    p = p.sort_values([*keys, "ts_ms"]).reset_index(drop=True)
    g = p.groupby(keys)
    for w, lab in ((DAY_MS, "1d"), (WEEK_MS, "7d")):
        p[f"oi_usd_chg_{lab}"] = g["oi_usd"].pct_change(periods=w // EVERY)
    p["oi_to_volume_1d"] = p["oi_usd"] / g["volume_usd"].transform(
        lambda x: x.rolling(DAY_MS // EVERY, min_periods=1).sum()
    )
    p["d_oi_base"] = g["oi_base"].diff()
    p["oi_inconsistent"] = p["d_oi_base"].abs() > p["volume_base"]
    # liquidations
    lq = rec["liquidations"].to_pandas()
    lq["ts_ms"] = lq["ts_ms"].dt.floor("5min")
    lq["long"] = np.where(lq["side"] == "long", lq["notional_usd"], 0.0)
    lq["short"] = np.where(lq["side"] == "short", lq["notional_usd"], 0.0)
    lb = lq.groupby([*keys, "ts_ms"]).agg(
        liq_long_usd=("long", "sum"),
        liq_short_usd=("short", "sum"),
        liq_count=("long", "size"),
        liq_max_usd=("notional_usd", "max"),
    )
    p = p.merge(lb.reset_index(), on=[*keys, "ts_ms"], how="left")
    for col in ("liq_long_usd", "liq_short_usd"):
        p[col] = p[col].fillna(0.0)
    p["liq_usd"] = p["liq_long_usd"] + p["liq_short_usd"]
    p["liq_long_share"] = p["liq_long_usd"] / p["liq_usd"]
    lz = np.log1p(p["liq_usd"])
    g = lz.groupby([p["venue"], p["canonical"]])
    n30 = 30 * DAY_MS // EVERY
    mean = g.transform(lambda x: x.rolling(n30, min_periods=30).mean().shift(1))
    std = g.transform(lambda x: x.rolling(n30, min_periods=30).std().shift(1))
    p["liq_usd_z"] = (lz - mean) / std
    p["liq_burst"] = p["liq_usd_z"] >= 3.0
    # long/short ratios
    r = rec["long_short_ratios"].to_pandas()
    r["ln_ratio"] = np.log(r["ratio"])
    r = r.sort_values([*keys, "kind", "ts_ms"])
    g = r.groupby([*keys, "kind"])["ln_ratio"]
    mean = g.transform(lambda x: x.rolling(n30, min_periods=30).mean().shift(1))
    std = g.transform(lambda x: x.rolling(n30, min_periods=30).std().shift(1))
    r["ratio_z"] = (r["ln_ratio"] - mean) / std
    p = p.sort_values("bar_end")
    for k, rk in r.groupby("kind"):
        rk = rk.sort_values("ts_ms")[[*keys, "ts_ms", "ratio", "ratio_z"]].rename(
            columns={"ts_ms": f"ts_{k}", "ratio": f"ls_{k}", "ratio_z": f"ratio_z_{k}"}
        )
        p = pd.merge_asof(p, rk, left_on="bar_end", right_on=f"ts_{k}", by=keys)
    return p


def pandas_classify(p: pd.DataFrame, window_ms: int = DAY_MS) -> pd.Series:
    """The regime label of every bar of :func:`pandas_panel`'s frame (classify's conditions and
    precedence with the default thresholds, docs/regimes.md), in plain pandas, for the ratio."""
    p = p.sort_values(["venue", "canonical", "ts_ms"]).reset_index(drop=True)
    g = p.groupby(["venue", "canonical"])
    n = window_ms // EVERY
    price_chg = p["close"] / g["close"].shift(n) - 1
    oi_chg = p["oi_base"] / g["oi_base"].shift(n) - 1
    f = p["rate_8h"]
    f_chg = f - g["rate_8h"].shift(n)
    liq_l = g["liq_long_usd"].transform(lambda x: x.rolling(n, min_periods=1).sum())
    liq_s = g["liq_short_usd"].transform(lambda x: x.rolling(n, min_periods=1).sum())
    share = (liq_l / (liq_l + liq_s)).where(liq_l + liq_s > 0)
    ls, lz = p["ls_top_positions"], p["ratio_z_top_positions"]
    up, down = price_chg >= 0.01, price_chg <= -0.01
    oi_up, oi_down = oi_chg >= 0.02, oi_chg <= -0.02
    conds = {
        "deleveraging_flush": down & oi_down & (share >= 0.6) & (liq_l > 0),
        "short_covering": up & oi_down,
        "new_shorts": down & oi_up,
        "leverage_buildup": up & oi_up & ((f >= 0.00005) | ((f > 0) & (f_chg > 0))),
        "squeeze_risk_short": (f < 0) & ((ls <= 1.0) | (lz <= -2.0)),
        "squeeze_risk_long": (f >= 0.0003) & ((ls >= 3.0) | (lz >= 2.0)),
        "latent_fragility": down & (oi_chg.abs() < 0.02) & (f > 0),
    }
    return pd.Series(np.select(list(conds.values()), list(conds.keys()), "neutral"), index=p.index)


#: The timed stages of a chunk, in order: the panel, then each regime table.
STAGES = ("panel", "classify", "episodes", "treadmill", "breakers", "flow")


def _timed(cpu: dict[str, float] | None, stage: str, step: Any) -> Any:
    """``step()``, adding its CPU seconds (this process, all threads) to ``cpu[stage]``."""
    c = time.process_time()
    out = step()
    if cpu is not None:
        cpu[stage] = cpu.get(stage, 0.0) + time.process_time() - c
    return out


def regimes_of(panel: pl.DataFrame, cpu: dict[str, float] | None = None) -> int:
    """Every regime table of a chunk's panel: labels (numbers; the evidence text is written per
    episode), episodes, treadmill cycles, circuit breakers and the flow hierarchy. Returns the bars.
    ``cpu``: CPU seconds per stage are added to it."""
    # one chunk's steps share each frame's numbering (regimes/grid.shared_preparation)
    with shared_preparation():
        labels = _timed(cpu, "classify", lambda: classify(panel, evidence=False))
        _timed(cpu, "episodes", lambda: episodes(labels))
        _timed(cpu, "treadmill", lambda: treadmill(labels))
        # the labels above: no second classification
        _timed(cpu, "breakers", lambda: circuit_breakers(panel, labels=labels))
        _timed(cpu, "flow", lambda: flow_hierarchy(panel))
    return int(labels.height)


def _chunk(rec: dict[str, pl.DataFrame], cpu: dict[str, float]) -> int:
    """The panel and regimes of one chunk's records (the timed work), CPU seconds per stage into ``cpu``."""
    panel = _timed(cpu, "panel", lambda: build_panel(EVERY, **rec, config=PanelConfig()))
    return regimes_of(panel, cpu)


#: A worker's share of a round: the chunk's seed and symbols (its synthetic inputs are drawn for these,
#: so every symbol's inputs are the same however the chunks are dealt) and the symbols it computes
#: (None: all of them; a round with fewer chunks than workers splits them, see :func:`deal`).
Share = tuple[int, list[str], list[str] | None]


def deal(symbols: list[str], chunk: int, workers: int) -> list[list[Share]]:
    """The chunks of ``chunk`` symbols dealt round-robin to ``workers`` processes, one per round each.

    When the chunks do not fill the last round (300 symbols in chunks of 4 on 2 workers: 75 chunks),
    that round's symbols are shared out evenly instead (two halves of the 75th chunk) so that no worker
    idles through it while another computes a whole chunk; a worker with nothing left gets an empty
    share. Each share keeps its chunk's seed and symbols: the inputs are drawn for the whole chunk and
    cut to the share's symbols, so they are the same rows as undealt. (Where an even share would take
    symbols of two chunks, with more than two workers, the last chunks are dealt whole.)"""
    chunks = [(i, symbols[i : i + chunk]) for i in range(0, len(symbols), chunk)]
    full, rest = divmod(len(chunks), workers)
    per_worker: list[list[Share]] = [[] for _ in range(workers)]
    for k, (seed, syms) in enumerate(chunks[: full * workers]):
        per_worker[k % workers].append((seed, syms, None))
    if not rest:
        return per_worker
    tail = chunks[full * workers :]
    last = [(k, s) for k, (_, syms) in enumerate(tail) for s in syms]
    parts = [last[w * len(last) // workers : (w + 1) * len(last) // workers] for w in range(workers)]
    if any(len({k for k, _ in part}) > 1 for part in parts):
        parts = [[(w, s) for s in tail[w][1]] if w < len(tail) else [] for w in range(workers)]
    for w, part in enumerate(parts):
        if part:
            seed, syms = tail[part[0][0]]
            per_worker[w].append((seed, syms, [s for _, s in part]))
        else:
            per_worker[w].append((-1 - w, [], []))
    return per_worker


def share_records(share: Share, n_bars: int) -> dict[str, pl.DataFrame] | None:
    """The synthetic inputs of a worker's share of a round (None for an empty share)."""
    seed, syms, keep = share
    if not syms or keep == []:
        return None
    rec = synthetic_records(syms, n_bars, seed=seed)
    if keep is None or keep == syms:
        return rec
    return {k: v.filter(pl.col("symbol").is_in(keep)) for k, v in rec.items()}


def _worker(
    w: int, shares: list[Share], n_bars: int, barrier: Any, results: Any, env: dict[str, str]
) -> None:
    """One worker process: per round, build its share's inputs (not timed), wait for the other workers
    (and the main process), build the panel and regimes (timed), wait again, then wait while the main
    process may run the pandas reference alone, so that nothing overlaps another's timing.

    As a batch worker does (``perpscope.cluster``), it loads the compiled kernels from numba's cache in
    a thread while it reads its first inputs (here: draws them), and reports when it was ready."""
    imported = time.perf_counter()  # the interpreter started and imported this module (the spawn)
    imported_cpu = time.process_time()
    # ``env`` was in place before this interpreter started (polars reads it at import; it puts its own
    # allocator defaults in front of ours in _RJEM_MALLOC_CONF, and jemalloc lets the last one win)
    assert os.environ.get("POLARS_MAX_THREADS") == env["POLARS_MAX_THREADS"]
    load = start_loading(JOB_KERNELS["regimes"])  # the kernels of the panel and every regime table
    for r, share in enumerate(shares):
        rec = share_records(share, n_bars)
        gc.collect()
        if r == 0:
            # the kernels' loading thread may lag behind the inputs (drawing them holds the GIL for long
            # stretches): the worker is ready when both are done, and its first chunk loads nothing
            load.wait()
            ready, ready_cpu = time.perf_counter(), time.process_time()
            results.put(
                ("start", w, imported, imported_cpu, ready, ready_cpu, load.started, load.ended, load.loaded)
            )
        barrier.wait()
        cpu: dict[str, float] = {}  # CPU seconds per stage of this chunk, in the worker that ran it
        c0, t0 = time.process_time(), time.perf_counter()
        rows = _chunk(rec, cpu) if rec is not None else 0
        t1, c1 = time.perf_counter(), time.process_time()
        del rec
        barrier.wait()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        results.put(("chunk", w, r, rows, t0, t1, c1 - c0, rss, cpu))
        barrier.wait()  # the main process's reference run, if any, happens alone


def _reference_rounds(rounds: int, runs: int) -> set[int]:
    """The rounds after which the pandas reference runs: ``runs`` of them spread over the whole run, so
    its time is taken under the same drifting load as ours (interleaved, not before or after)."""
    return {round(k * (rounds - 1) / max(runs - 1, 1)) for k in range(runs)}


def run(
    n_symbols: int = 300,
    chunk: int = 4,
    workers: int = 2,
    threads_per_worker: int = 1,
    pandas_symbols: int = 4,
    n_bars: int = BARS_PER_YEAR,
    reference_runs: int = 3,
) -> list[Result]:
    """All metrics for ``n_symbols`` × ``n_bars`` 5m bars, in chunks, in ``workers`` processes.

    The symbols are dealt out in chunks of ``chunk`` to ``workers`` processes (``threads_per_worker``
    polars threads each; :func:`deal`) that work in rounds: every worker builds its next chunk's
    synthetic inputs (not timed), all wait at a barrier, then all build their panels (timed). The figure
    is the sum over rounds of the time from the first worker starting to the last one finishing. The
    pandas reference runs the same metrics on ``pandas_symbols`` symbols in this process and is scaled
    per bar.
    """
    symbols = [f"S{i:04d}" for i in range(n_symbols)]
    per_worker = deal(symbols, chunk, workers)
    rounds = len(per_worker[0])
    # workers: their own polars thread count, and both allocators keeping freed pages so each chunk
    # reuses the previous chunk's memory instead of faulting in fresh pages (peak memory stays one
    # chunk's): jemalloc (polars' buffers) and glibc's malloc (numpy's: the compiled passes' columns,
    # which a panel keeps zero-copy). glibc otherwise maps each array above its threshold afresh and
    # hands it back when freed; 13.9 k page faults (about 20 ms) per chunk's panel came from that
    # (the settings every batch runner gives its workers: cluster/worker_env.py)
    env = {"POLARS_MAX_THREADS": str(threads_per_worker), **spawn_environ(os.environ)}
    ref_at = _reference_rounds(rounds, reference_runs)
    t_reference: list[float] = []
    ctx = mp.get_context("spawn")  # fresh interpreters: polars is not fork-safe, and reads env at import
    barrier, results = ctx.Barrier(workers + 1), ctx.Queue()  # the workers and this process
    with mock.patch.dict(os.environ, env):  # spawned interpreters inherit it at start
        procs = [
            ctx.Process(target=_worker, args=(w, pw, n_bars, barrier, results, env))
            for w, pw in enumerate(per_worker)
        ]
        spawned = time.perf_counter()
        for p in procs:
            p.start()
        # the pandas reference's inputs (not timed; it runs between rounds), drawn while the workers start
        ref_rec = synthetic_records(symbols[:pandas_symbols], n_bars, seed=10_000)
        for r in range(rounds):
            barrier.wait()  # the workers start their chunks
            barrier.wait()  # ... and have finished them
            if r in ref_at:  # alone on the machine's two cores but for other users' load, as ours was
                gc.collect()
                t = time.perf_counter()
                pandas_classify(pandas_panel(ref_rec))
                t_reference.append(time.perf_counter() - t)
            barrier.wait()
        got = [results.get() for _ in range(rounds * workers + workers)]
        for p in procs:
            p.join()
    starts = [g for g in got if g[0] == "start"]
    done = [g for g in got if g[0] == "chunk"]
    by_round: dict[int, list[tuple[float, float]]] = {}
    for _, _w, r, _rows, t0, t1, *_ in done:
        by_round.setdefault(r, []).append((t0, t1))
    wall = sum(max(t1 for _, t1 in ts) - min(t0 for t0, _ in ts) for ts in by_round.values())
    busy = sum(t1 - t0 for ts in by_round.values() for t0, t1 in ts)  # one-thread compute, all chunks
    # where the wall time beyond the stages' medians goes (issue 20): the first round (a worker's first
    # chunk faults in its memory; its kernels were loaded as it started, reported below), the
    # last one (when chunks do not fill it), and the rounds' lockstep: every round waits for its slower
    # worker, where a pool pulling tasks would not (the busiest worker's own time is what a
    # free-running pool would need of this same work)
    first = max(t1 for _, t1 in by_round[0]) - min(t0 for t0, _ in by_round[0])
    last = max(t1 for _, t1 in by_round[rounds - 1]) - min(t0 for t0, _ in by_round[rounds - 1])
    by_worker: dict[int, float] = {}
    for _, w, _r, _rows, t0, t1, *_ in done:
        by_worker[w] = by_worker.get(w, 0.0) + t1 - t0
    lockstep = wall - max(by_worker.values())
    # of which the workers leaving the round's barrier at different times (waking up under load)
    skew = sum(max(t0 for t0, _ in ts) - min(t0 for t0, _ in ts) for ts in by_round.values())
    # the workers' start: spawn to imports done, and to ready (kernels loading alongside the first
    # inputs); when the kernels were loaded, and how many
    imports_s = max(s[2] for s in starts) - spawned
    ready_s = max(s[4] for s in starts) - spawned
    imports_cpu, ready_cpu = max(s[3] for s in starts), max(s[5] for s in starts)
    slow = max(starts, key=lambda s: s[7] - s[6])  # the later loading thread (ended: waited for)
    kernels = f"{slow[8]} kernels loaded in {slow[7] - slow[6]:.2f} s alongside the first inputs"
    rows = sum(d[3] for d in done)
    rss = max(d[7] for d in done)
    # CPU seconds per stage and chunk, as the workers measured them (their polars thread count, their
    # share of the machine): the median over the full chunks (a worker's first chunk also faults in its
    # memory, the mean would spread that over the run); outside the stages: the chunk's CPU less its
    # stages' (freeing the chunk's frames, the shared numbering's set-up)
    full = [d for d in done if d[3] and d[2] < rounds - 1]
    chunk_cpu = [d[8] for d in full]
    per_chunk = {k: float(np.median([c[k] for c in chunk_cpu])) for k in STAGES}
    outside = float(np.median([d[6] - sum(d[8].values()) for d in full]))
    mean_chunk = float(np.mean([d[6] for d in full]))  # the first chunks included
    first_cpu = max(d[6] for d in done if d[2] == 0)

    # load the compiled window kernels (numba's on-disk cache) before timing: pandas has no such step;
    # the workers above load them while drawing their first inputs
    load_cached_kernels(JOB_KERNELS["regimes"])
    rec = ref_rec
    ref, ours = pandas_panel(rec), build_panel(EVERY, **rec)
    ref_labels, our_labels = pandas_classify(ref), classify(ours, evidence=False)
    # one process, the same rows: each step against its pandas twin, in turns (best_of_each)
    t_pandas, t_ours, t_pandas_regimes, t_classify, t_regimes = best_of_each(
        [
            lambda: pandas_panel(rec),
            lambda: build_panel(EVERY, **rec),
            lambda: pandas_classify(ref),
            lambda: classify(ours, evidence=False),
            lambda: regimes_of(ours),
        ],
        repeat=3,
    )
    assert ours.height == len(ref), (ours.height, len(ref))
    # the references compute what ours does: most labels agree (pandas fills liquidations before a
    # series' first one with 0 where the panel leaves them unknown)
    agree = float((our_labels.get_column("regime").to_numpy() == ref_labels.to_numpy()).mean())
    # the reference of the 300-symbol figure: pandas panel + classify, run alone between its rounds
    per_row = min(t_reference) / len(ref)
    assert rows == n_symbols * n_bars, (rows, n_symbols * n_bars)  # every symbol's bars, once
    return [
        Result(
            f"metrics+regimes: {n_symbols} symbols × 1 y of 5m bars ({rows / 1e6:.1f} M bars)",
            wall,
            "s",
            f"pandas panel + classify ({pandas_symbols} symbols, scaled per bar, "
            f"best of {len(t_reference)} runs between the rounds)",
            per_row * rows / wall,
            f"target < 8 s (issue 20); synthetic inputs; {workers} processes × {threads_per_worker} "
            "polars thread, "
            f"chunks of {chunk} symbols; {busy:.0f} s one-thread compute in all; first round {first:.2f} s "
            f"({first_cpu:.2f} s CPU); last round {last:.2f} s; rounds waiting on the slower worker "
            f"{lockstep:.2f} s ({skew:.2f} s of it starting apart); workers imported {imports_s:.1f} s "
            f"({imports_cpu:.1f} s CPU) and ready "
            f"{ready_s:.1f} s ({ready_cpu:.1f} s CPU) after spawn, {kernels}; "
            f"peak {rss:.1f} GB/process; pandas runs {', '.join(f'{t:.1f}' for t in t_reference)} s; "
            f"load {os.getloadavg()[0]:.1f}",
        ),
        Result(
            f"metrics: {pandas_symbols} symbols, one process, same rows as pandas",
            t_ours,
            "s",
            "pandas on the same rows",
            t_pandas / t_ours,
            f"{len(ref):,} bars",
        ),
        Result(
            f"classify: {pandas_symbols} symbols, one process (after the panel)",
            t_classify,
            "s",
            "pandas classify on the same rows",
            t_pandas_regimes / t_classify,
            f"labels agree with pandas on {agree:.1%} of bars",
        ),
        Result(
            f"CPU per chunk of {chunk} symbols × 1 y, by stage",
            sum(per_chunk.values()),
            "s",
            target=f"median of {len(chunk_cpu)} chunks in the workers: "
            + ", ".join(f"{k} {v:.3f} s" for k, v in per_chunk.items())
            + f"; outside the stages {outside:.3f} s; mean of the chunks' totals {mean_chunk:.3f} s",
        ),
        Result(
            f"regimes: {pandas_symbols} symbols, one process (after the panel)",
            t_regimes,
            "s",
            "the panel on the same rows",
            t_ours / t_regimes,
            "ratio > 1: regimes cost less than the panel they read",
        ),
    ]


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    for r in run(n_symbols=n):
        print(r.line(), flush=True)
