"""Scale benchmark (issue 17): batch metrics + regimes on one process, a Dask ``LocalCluster(2)`` and a
spawned process pool of 2; the cluster's overhead per task; import and read throughput of the lake on a
loopback S3 server (moto) against a local folder; and a projection to 1,500 symbols × 5 years.

Compute inputs are bench_metrics' synthetic records (seeded random walks shaped like the records), one
task per chunk of symbols, building its inputs then the panel and every regime table — the same
function in all three executors, so their wall times compare the executors. Store inputs are synthetic
5-minute candles written through :meth:`Lake.write` (the importer's write) and read back through
:func:`perpscope.store.reader.read`.

Usage: ``python -m benchmarks.bench_scale --symbols 300 --period 1y`` (the defaults: the issue's 300
symbols × one year of 5-minute bars, over an hour on a busy 2-core machine — run it on an idle one);
``--symbols 8 --period 30d`` checks the benchmark in about a minute. ``--store-symbols`` and
``--store-period`` size the store section (default 8 symbols × 90 days). Every figure is printed with
the load average at its start, since absolute times on a shared machine mean little without it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import logging
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.bench_metrics import BARS_PER_YEAR, EVERY, regimes_of, synthetic_records
from benchmarks.common import T0, best_of_each
from perpscope.core.time import DAY_MS, interval_ms
from perpscope.metrics import PanelConfig, build_panel
from perpscope.records import CANDLES
from perpscope.store import Lake, open_lake
from perpscope.store.reader import read

CHUNK = 4  # symbols per task, as bench_metrics deals them


def chunk_task(seed: int, symbols: list[str], n_bars: int) -> float:
    """One task: synthesise a chunk's inputs, build its panel and regimes; returns the compute seconds."""
    rec = synthetic_records(symbols, n_bars, seed=seed)
    t = time.perf_counter()
    regimes_of(build_panel(EVERY, **rec, config=PanelConfig()))
    return time.perf_counter() - t


def noop(i: int) -> int:
    return i


def _chunks(n_symbols: int) -> list[tuple[int, list[str]]]:
    symbols = [f"S{i:04d}" for i in range(n_symbols)]
    return [(i, symbols[i : i + CHUNK]) for i in range(0, n_symbols, CHUNK)]


def compute_section(n_symbols: int, n_bars: int) -> dict[str, float]:
    from distributed import Client, LocalCluster

    chunks = _chunks(n_symbols)
    seeds, syms = [c[0] for c in chunks], [c[1] for c in chunks]
    bars = [n_bars] * len(chunks)
    compute_s: list[float] = []
    env = {"POLARS_MAX_THREADS": "1"}
    os.environ.update(env)  # workers (spawned, forked by the nanny) inherit it: one thread per process
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
        cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool,
    ):
        # warm every executor (imports, numba compilation) outside the timings
        client.gather(client.map(chunk_task, [1, 2], [["W1"], ["W2"]], [2000, 2000], pure=False))
        list(pool.map(chunk_task, [1, 2], [["W1"], ["W2"]], [2000, 2000]))
        chunk_task(1, ["W1"], 2000)

        def single() -> None:
            compute_s[:] = [chunk_task(*a) for a in zip(seeds, syms, bars, strict=True)]

        def dask() -> None:
            client.gather(client.map(chunk_task, seeds, syms, bars, pure=False))

        def pool_run() -> None:
            list(pool.map(chunk_task, seeds, syms, bars))

        t_single, t_dask, t_pool = best_of_each([single, dask, pool_run], repeat=2)
        n_noop = 2000

        def dask_noop() -> None:
            client.gather(client.map(noop, range(n_noop), pure=False))

        def pool_noop() -> None:
            list(pool.map(noop, range(n_noop)))

        o_dask, o_pool = best_of_each([dask_noop, pool_noop], repeat=3)
    return {
        "tasks": len(chunks),
        "single_s": t_single,
        "dask2_s": t_dask,
        "pool2_s": t_pool,
        "compute_s": sum(compute_s),
        "task_overhead_dask_ms": 1000 * o_dask / n_noop,
        "task_overhead_pool_ms": 1000 * o_pool / n_noop,
    }


def _candles(n_symbols: int, n_bars: int) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    frames = []
    for i in range(n_symbols):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n_bars)))
        frames.append(
            pl.DataFrame(
                {
                    "venue": "binance",
                    "symbol": f"S{i:03d}USDT",
                    "canonical": f"S{i:03d}-USDT-PERP",
                    "market": "perp",
                    "price_type": "trade",
                    "interval_ms": EVERY,
                    "ts_ms": T0 + np.arange(n_bars, dtype=np.int64) * EVERY,
                    "open": close,
                    "high": close * 1.001,
                    "low": close * 0.999,
                    "close": close,
                    "volume_base": rng.gamma(2.0, 30.0, n_bars),
                }
            )
        )
    return pl.concat(frames)


def store_section(n_symbols: int = 8, n_bars: int = BARS_PER_YEAR // 4) -> dict[str, float]:
    """Write then read ``n_symbols`` × ``n_bars`` 5m candles: local folder vs the loopback S3 server."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    s3 = boto3.client("s3")
    frame = _candles(n_symbols, n_bars)
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    made: list[Lake] = []
    try:

        def fresh_local() -> Lake:
            return Lake(tmp / uuid.uuid4().hex)

        def fresh_s3() -> Lake:
            bucket = f"b{uuid.uuid4().hex[:12]}"
            s3.create_bucket(Bucket=bucket)
            return open_lake(f"s3://{bucket}/lake")

        def write_local() -> None:
            made.append(fresh_local())
            made[-1].write(CANDLES, frame)

        def write_s3() -> None:
            made.append(fresh_s3())
            made[-1].write(CANDLES, frame)

        w_local, w_s3 = best_of_each([write_local, write_s3], repeat=3)
        local, remote = made[-2], made[-1]

        def read_all(lk: Lake) -> int:
            return sum(
                read(lk, "candles", venue="binance", symbol=c).height for _, c in lk.partitions("candles")
            )

        assert read_all(local) == read_all(remote) == frame.height
        r_local, r_s3 = best_of_each([lambda: read_all(local), lambda: read_all(remote)], repeat=3)
        size = sum(f.stat().st_size for f in local.month_files("candles"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        server.stop()
    return {
        "rows": frame.height,
        "bytes": size,
        "write_local_s": w_local,
        "write_s3_s": w_s3,
        "read_local_s": r_local,
        "read_s3_s": r_s3,
    }


def projection(c: dict[str, float], s: dict[str, float], n_symbols: int, n_bars: int) -> list[str]:
    """Wall time of 1,500 symbols × 5 years of 5m bars on 1, 8 and 64 workers, from the measured costs."""
    sym_years = 1500 * 5
    per_sym_year = c["compute_s"] / n_symbols * (BARS_PER_YEAR / n_bars)  # one-thread compute, s
    # a panel reads about five records per bar (candles, funding, OI, ratios, liquidations): ×5 candles'
    bytes_task = s["bytes"] / s["rows"] * BARS_PER_YEAR * 5 * 5  # one task: one symbol, 5 years
    loopback_bps = s["bytes"] / s["read_s3_s"]
    worker_bps = 100e6  # assumed S3 throughput of one worker over a real network
    tasks = 1500  # one task per symbol (its 5 years)
    lines = [
        f"measured: {per_sym_year:.2f} s compute per symbol-year (one thread); "
        f"{c['task_overhead_dask_ms']:.2f} ms scheduler overhead per task; S3 loopback read "
        f"{loopback_bps / 1e6:.0f} MB/s (moto, a Python server: a floor, not S3's speed)",
        f"assumed: {bytes_task / 1e6:.0f} MB of inputs per task (candles measured, ×5 records, ×5 years); "
        f"{worker_bps / 1e6:.0f} MB/s S3 read per worker; one task per symbol; the store's aggregate "
        "throughput is not the limit at 64 workers (S3: 5,500 GET/s per prefix, one prefix per partition)",
        f"{'workers':>8} {'compute':>9} {'read':>8} {'sched.':>8} {'rounds':>7} {'wall':>9}",
    ]
    for w in (1, 8, 64):
        rounds = -(-tasks // w)
        compute = rounds * per_sym_year * 5
        read_s = rounds * bytes_task / worker_bps
        sched = tasks * c["task_overhead_dask_ms"] / 1000
        wall = compute + read_s + sched
        lines.append(
            f"{w:>8} {compute / 3600:>8.2f}h {read_s / 60:>7.1f}m {sched:>7.1f}s {rounds:>7} "
            f"{wall / 3600:>8.2f}h"
        )
    lines.append(
        f"{sym_years} symbol-years; rounds = ceil(1500 / workers) (64 workers: 24 rounds for 23.4 of work)"
    )
    return lines


def period_bars(text: str) -> int:
    """5-minute bars in a period: ``1y`` (365 days), ``90d``, ``4w``, ``12h``."""
    text = text.strip()
    if text.endswith("y") and text[:-1].isdigit() and int(text[:-1]) > 0:
        return int(text[:-1]) * 365 * DAY_MS // EVERY
    span = interval_ms(text)
    if span < EVERY:
        raise ValueError(f"a period shorter than one 5-minute bar: {text!r}")
    return span // EVERY


def _load() -> str:
    """``uptime``'s load averages (1, 5, 15 min): the machine is shared, the figures depend on it."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_scale",
        description="Batch metrics + regimes: one process vs LocalCluster(2) vs a process pool; lake on "
        "loopback S3 vs a folder; a projection to 1,500 symbols × 5 years.",
    )
    ap.add_argument("--symbols", type=int, default=300, help="symbols of the compute section (default 300)")
    ap.add_argument("--period", default="1y", help="5m bars per symbol as a period: 1y, 90d, 4w (default 1y)")
    ap.add_argument("--store-symbols", type=int, default=8, help="symbols written/read in the store section")
    ap.add_argument("--store-period", default="90d", help="period of the store section's candles")
    a = ap.parse_args(argv)
    if a.symbols < 1 or a.store_symbols < 1:
        ap.error("--symbols and --store-symbols must be at least 1")
    try:
        a.bars, a.store_bars = period_bars(a.period), period_bars(a.store_period)
    except ValueError as e:
        ap.error(str(e))
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    n_symbols, n_bars = a.symbols, a.bars
    print(
        f"bench_scale: {n_symbols} symbols × {n_bars:,} 5m bars ({a.period}), metrics + regimes, "
        f"{os.cpu_count()} cores, {_load()}"
    )
    c = compute_section(n_symbols, n_bars)
    print(
        f"  {c['tasks']} tasks of {CHUNK} symbols: single process {c['single_s']:.1f} s, "
        f"LocalCluster(2) {c['dask2_s']:.1f} s ({c['single_s'] / c['dask2_s']:.2f}× single), "
        f"process pool(2) {c['pool2_s']:.1f} s ({c['single_s'] / c['pool2_s']:.2f}× single); "
        f"dask / pool = {c['dask2_s'] / c['pool2_s']:.2f}"
    )
    print(
        f"  overhead per task (2,000 no-op tasks): Dask {c['task_overhead_dask_ms']:.2f} ms, "
        f"process pool {c['task_overhead_pool_ms']:.2f} ms"
    )
    print(f"  ({_load()} after the compute section)")
    s = store_section(a.store_symbols, a.store_bars)
    mb = s["bytes"] / 1e6
    print(
        f"  store ({_load()}), {s['rows']:,} candle rows ({mb:.1f} MB parquet): "
        f"write local {s['write_local_s']:.2f} s, "
        f"S3 loopback {s['write_s3_s']:.2f} s ({s['write_s3_s'] / s['write_local_s']:.2f}× local); "
        f"read local {s['read_local_s']:.2f} s, S3 {s['read_s3_s']:.2f} s "
        f"({s['read_s3_s'] / s['read_local_s']:.2f}× local)"
    )
    print(
        f"  throughput rows/s: write local {s['rows'] / s['write_local_s']:,.0f}, "
        f"S3 {s['rows'] / s['write_s3_s']:,.0f}; read local {s['rows'] / s['read_local_s']:,.0f}, "
        f"S3 {s['rows'] / s['read_s3_s']:,.0f}"
    )
    print("  projection, 1,500 symbols × 5 years of 5m bars:")
    for line in projection(c, s, n_symbols, n_bars):
        print("    " + line)


if __name__ == "__main__":
    main()
