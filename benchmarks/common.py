"""Benchmark helpers: timing (best of N), synthetic-but-realistic inputs, a result table."""

from __future__ import annotations

import contextlib
import gc
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

T0 = 1704067200000  # 2024-01-01 00:00 UTC
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Served:
    """A ``perpscope`` API server running in its own process: its ``/api/v1`` address and the process."""

    base: str
    proc: subprocess.Popen[bytes]

    def wait_warm(self, timeout_s: float = 600.0) -> None:
        """Return once ``/health`` says the server's start-up work (kernels, precomputed views) is done,
        so what is measured next is not that work running beside it."""
        import httpx

        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=30) as c:
            while not c.get(f"{self.base}/health").json().get("warm", True):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the API server was not warm after {timeout_s:.0f} s")
                time.sleep(0.05)


@contextlib.contextmanager
def served_store(root: Path, stop_timeout_s: float = 30.0) -> Iterator[Served]:
    """The real API app over the store at ``root``, under uvicorn on a free 127.0.0.1 port in a child
    process, once ``/health`` answers; stopped on exit."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    code = (
        "import uvicorn; from pathlib import Path; from perpscope.cli.serve_cmd import build_app; "
        f"uvicorn.run(build_app(Path({str(root)!r}), port={port}), host='127.0.0.1', port={port}, "
        "log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield Served(base, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=stop_timeout_s)


@dataclass
class Result:
    name: str
    value: float
    unit: str
    reference: str = ""
    ratio: float | None = None
    target: str = ""

    def line(self) -> str:
        ratio = f"{self.ratio:8.2f}× vs {self.reference}" if self.ratio is not None else ""
        return f"{self.name:<48} {self.value:>14,.3f} {self.unit:<8} {ratio:<36} {self.target}"


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Fastest wall time of ``repeat`` runs, seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def best_of_each(fns: Sequence[Callable[[], object]], repeat: int = 5) -> list[float]:
    """Fastest wall time of each of ``fns`` over ``repeat`` rounds that run them in turn, seconds.

    Interleaved, so a machine whose speed drifts (a shared VM) slows every contender alike: timing one
    after the other let a slow minute land on one side of a ratio."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            gc.collect()
            t = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t)
    return [min(t) for t in times]


def random_walk_klines(n: int, step_ms: int = MINUTE_MS, seed: int = 7) -> pl.DataFrame:
    """``n`` bars shaped like Binance kline CSV rows (12 columns), from a seeded random walk near 40k.

    Values are synthetic; only their shape and magnitudes matter to throughput.
    """
    rng = np.random.default_rng(seed)
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.0008, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0, 0.0005, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    vol = rng.gamma(2.0, 30.0, n)
    ts = T0 + np.arange(n, dtype=np.int64) * step_ms
    return pl.DataFrame(
        {
            "open_time": ts,
            "open": np.round(open_, 1),
            "high": np.round(high, 1),
            "low": np.round(low, 1),
            "close": np.round(close, 1),
            "volume": np.round(vol, 3),
            "close_time": ts + step_ms - 1,
            "quote_volume": np.round(vol * close, 4),
            "count": rng.integers(100, 5000, n),
            "taker_buy_volume": np.round(vol * 0.5, 3),
            "taker_buy_quote_volume": np.round(vol * 0.5 * close, 4),
            "ignore": np.zeros(n, dtype=np.int64),
        }
    )


def random_agg_trades(n: int, seed: int = 11) -> pl.DataFrame:
    """``n`` rows shaped like Binance USDⓈ-M aggTrades CSV rows (7 columns), synthetic values."""
    rng = np.random.default_rng(seed)
    price = np.round(40_000 * np.exp(np.cumsum(rng.normal(0, 0.00002, n))), 1)
    first = np.arange(n, dtype=np.int64) * 3 + 1_000_000_000
    return pl.DataFrame(
        {
            "agg_trade_id": np.arange(n, dtype=np.int64) + 2_000_000_000,
            "price": price,
            "quantity": np.round(rng.gamma(1.0, 0.05, n) + 0.001, 3),
            "first_trade_id": first,
            "last_trade_id": first + rng.integers(0, 3, n),
            "transact_time": T0 + np.sort(rng.integers(0, 86_400_000, n)),
            "is_buyer_maker": rng.random(n) < 0.5,
        }
    )


def shared_store(data_dir: Path, what: str) -> Path | None:
    """The store of the whole ``../shared/data`` at ``data_dir``, imported the README way first when it is
    not there yet (a few minutes, once); None, with a line saying why ``what`` is skipped, when the
    shared data is not beside this checkout either."""
    if data_dir.exists():
        return data_dir
    from perpscope.core.config import shared_data_dir
    from perpscope.ingest.importer import import_paths
    from perpscope.store import Lake

    shared = shared_data_dir()
    if shared is None:
        print(f"{what}: skipped, no store at {data_dir} and no ../shared/data to import into it")
        return None
    print(f"{what}: importing {shared} into {data_dir} (once) …", file=sys.stderr)
    report = import_paths([shared], Lake(data_dir))
    if report.failed:
        raise SystemExit(f"{what}: import into {data_dir} failed: {report.failed[0].error}")
    return data_dir
