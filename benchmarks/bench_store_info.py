"""``perpscope store info`` on the whole shared data set (target: the command answers in < 1 s).

The store is built by importing ``../shared/data`` (or ``$PERPSCOPE_SHARED_DATA``) into a temporary
folder: some 450,000 rows in 3,200 month files over 590 coins. Figures:

- the per-coin summary (:func:`perpscope.store.summary.summary`, Parquet footers plus one scan of the
  files a footer cannot describe) against the full-scan :func:`perpscope.store.coverage`, the
  computation the command ran before, in this process;
- the per-series coverage of the whole store (:func:`perpscope.store.coverage.coverage_of`, what
  ``--details``/``--json`` print) against the same reference;
- the command itself in a fresh process (start-up and imports included), the user's wait.

``python -m benchmarks.bench_store_info`` prints the figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Result, best_of
from perpscope.core.config import shared_data_dir
from perpscope.ingest.importer import import_paths
from perpscope.store import Lake
from perpscope.store.coverage import coverage, coverage_of
from perpscope.store.summary import summary

ROOT = Path(__file__).resolve().parents[1]


def cli_seconds(data: Path, repeat: int = 3) -> float:
    """Fastest wall time of ``perpscope store info`` in a fresh interpreter, seconds."""
    code = "import sys; from perpscope.cli.main import app; sys.argv[0] = 'perpscope'; app()"
    cmd = [sys.executable, "-c", code, "--data-dir", str(data), "store", "info"]
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t)
    return min(times)


def run() -> list[Result]:
    shared = shared_data_dir()
    if shared is None:
        print("store info: skipped — ../shared/data (the team's real data) is not beside this checkout")
        return []
    with tempfile.TemporaryDirectory() as d:
        lake = Lake(Path(d) / "data")
        report = import_paths([shared], lake)
        rows = sum(report.rows_added().values())
        files = sum(1 for _ in lake.root.rglob("*.parquet"))
        summary(lake)  # warm the page cache and the imports before timing either side
        t_old = best_of(lambda: coverage(lake), repeat=3)
        t_summary = best_of(lambda: summary(lake), repeat=5)
        t_details = best_of(lambda: coverage_of(lake), repeat=3)
        t_cli = cli_seconds(lake.root)
    what = f"{rows:,} rows, {files:,} files"
    return [
        Result(
            f"store info summary: shared data ({what})",
            t_summary,
            "s",
            "full-scan coverage()",
            t_old / t_summary,
            "target < 0.5 s",
        ),
        Result(
            "store info --details: every series, exact gaps",
            t_details,
            "s",
            "full-scan coverage()",
            t_old / t_details,
        ),
        Result("perpscope store info: fresh process, COLUMNS=80", t_cli, "s", target="target < 1 s"),
    ]


if __name__ == "__main__":
    for r in run():
        print(r.line(), flush=True)
