"""kill -9 during live appends and compactions (issue 20): after every kill the store is readable, each
flush's part is wholly present or wholly absent, every flush the writer finished is there, a
compaction cut short changes nothing a reader sees, and the next writer sweeps the temporaries.

A child process appends flushes of aggregated trades (two symbols × two months: four parts a flush) to
a store seeded with a month file of 200,000 trades, and folds the parts into the month files every few
flushes — a fold rewrites the seeded month, so kills land inside compactions as well as inside flushes.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from tests.conftest import ROOT

from perpscope.records import TRADES
from perpscope.store import Lake
from perpscope.store.commit import TMP_MARK
from perpscope.store.reader import read

TRIALS = 8
#: Trades per symbol and month in one flush.
PER_PART = 500
SEED_ROWS = 200_000
MONTH_MS = 31 * 86_400_000
#: 2025-10-31 00:00 UTC: a flush's trades straddle the October/November boundary.
T0 = 1761868800000
SYMBOLS = ("BTC", "ETH")

CHILD = """
import sys
from pathlib import Path
from tests.faults.test_parts_kill import flush_frame
from perpscope.records import TRADES
from perpscope.store import Lake
lake = Lake(sys.argv[1])
k = int(sys.argv[2])
while True:
    lake.append(TRADES, flush_frame(k))
    print(f"flushed {k}", flush=True)
    k += 1
    if k % 3 == 0:
        print("compacting", flush=True)
        lake.compact()
        print("compacted", flush=True)
"""


def trades(ids: list[int], ts: list[int], coin: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "venue": "binance",
            "symbol": f"{coin}USDT",
            "canonical": f"{coin}-USDT-PERP",
            "market": "perp",
            "ts_ms": ts,
            "trade_id": ids,
            "price": [100.0 + (i % 97) for i in ids],
            "qty_base": 0.25,
            "taker_side": ["buy" if i % 2 else "sell" for i in ids],
        }
    )


def flush_frame(k: int) -> pl.DataFrame:
    """Flush ``k``: per symbol, ``PER_PART`` trades in October and as many in November."""
    frames = []
    for coin in SYMBOLS:
        ids = [SEED_ROWS + k * 2 * PER_PART + j for j in range(2 * PER_PART)]
        ts = [T0 - PER_PART + j if j < PER_PART else T0 + 86_400_000 + j for j in range(2 * PER_PART)]
        frames.append(trades(ids, ts, coin))
    return pl.concat(frames)


def seed(lake: Lake) -> None:
    ids = list(range(SEED_ROWS))
    lake.write(TRADES, trades(ids, [T0 - 20 * 86_400_000 + i for i in ids], "BTC"))


def test_kill_9_mid_flush_or_mid_compaction_leaves_whole_parts_only(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    seed(lake)
    rng = random.Random(20)
    k = 0
    landed = {"flush": 0, "compaction": 0}
    finished: set[int] = set()
    for trial in range(TRIALS):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(lake.root), str(k)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        # even trials: killed within a flush (just after the previous one finished); odd: within a
        # compaction (it rewrites the 200,000-row month: a few hundred ms)
        within = "compacting" if trial % 2 else "flushed"
        skip = rng.randint(0, 2)
        seen = []
        for line in child.stdout:
            seen.append(line)
            if line.startswith(within):
                if skip == 0:
                    time.sleep(rng.uniform(0, 0.3) if trial % 2 else rng.uniform(0, 0.01))
                    break
                skip -= 1
        child.kill()
        words = "".join(seen).split() + child.communicate()[0].split()
        finished.update(int(w) for w in words if w.isdigit())
        said = [w for w in words if not w.isdigit()]
        landed["compaction" if said and said[-1] == "compacting" else "flush"] += 1
        tried = max(finished, default=k - 1) + 1  # the flush the kill may have cut

        # readable as the next reader finds it (before any writer recovers the store)
        back = read(lake, "trades", sources="all")
        for f in lake.root.rglob("*.parquet"):
            pq.read_metadata(f)  # every visible file whole (a torn one has no footer)
        ids = back.group_by("canonical").agg(pl.col("trade_id"))
        got = {c: set(v) for c, v in ids.iter_rows()}
        assert got["BTC-USDT-PERP"] >= set(range(SEED_ROWS)), "seeded rows lost"
        for coin in SYMBOLS:
            have = got.get(f"{coin}-USDT-PERP", set())
            for b in range(tried + 1):
                first = SEED_ROWS + b * 2 * PER_PART
                for half in (range(first, first + PER_PART), range(first + PER_PART, first + 2 * PER_PART)):
                    present = len(have & set(half))
                    assert present in (0, PER_PART), f"flush {b} {coin}: {present} of {PER_PART} rows"
                    if b in finished:
                        assert present == PER_PART, f"finished flush {b} {coin} missing"
        assert back.height == back.unique(["canonical", "trade_id"]).height  # no row twice
        k = tried + 1

    # the next writer finishes or undoes what the kills left, and sweeps the temporaries
    lake.recover()
    assert not [p for p in lake.root.rglob(f"*{TMP_MARK}*")]
    before = read(lake, "trades", sources="all")
    lake.compact()
    assert read(lake, "trades", sources="all").equals(before)
    assert landed["compaction"] and landed["flush"], landed  # the kills landed in both
