"""kill -9 during live log appends, seals and compactions (issue 20): after every kill the store is
readable, each committed batch is wholly there, a batch cut short is wholly absent (its torn tail
ignored), no row shows twice, and the next session (or ``store compact``) seals what the killed one left.

A child process plays the collector's writer: it seals the logs of dead sessions on start (as
:class:`~perpscope.ingest.live.Collector` does), then commits batches of aggregated trades (two
symbols × two months) to its log, seals its segment into parts every few batches, and compacts the
store every few more — a compaction rewrites the seeded 200,000-trade month, so kills land inside
appends, seals and compactions.
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
from tests.faults.test_parts_kill import PER_PART, SEED_ROWS, SYMBOLS, seed

from perpscope.store import Lake
from perpscope.store.live_log import log_files
from perpscope.store.parts import is_part
from perpscope.store.reader import read

TRIALS = 9
#: More trials are run (up to this many) while a phase has not yet had a kill land in it: under load the
#: parent reads the child's "appending" line late, and the kill can land after the append it meant.
MAX_TRIALS = 30
PHASES = ("appending", "sealing", "compacting")

CHILD = """
import sys
from tests.faults.test_parts_kill import flush_frame
from perpscope.records import TRADES
from perpscope.store import Lake
from perpscope.store.lake import prepared
from perpscope.store.live_log import LiveLog, new_session, seal, seal_orphans
lake = Lake(sys.argv[1])
k = int(sys.argv[2])
seal_orphans(lake)
log = LiveLog(lake, TRADES, new_session())
print("ready", flush=True)
while True:
    rows = prepared(TRADES, flush_frame(k))
    print(f"appending {k}", flush=True)
    log.write(rows)
    log.sync()
    print(f"committed {k}", flush=True)
    k += 1
    if k % 3 == 0:
        print("sealing", flush=True)
        seal(lake, TRADES, log.rotate())
        print("sealed", flush=True)
    if k % 6 == 0:
        print("compacting", flush=True)
        lake.compact()
        print("compacted", flush=True)
"""


def test_kill_9_mid_append_seal_or_compaction_loses_no_committed_batch_and_shows_none_twice(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "data")
    seed(lake)
    rng = random.Random(2020)
    k = 0
    landed = dict.fromkeys(PHASES, 0)
    committed: set[int] = set()
    trial = -1
    while trial + 1 < TRIALS or (not all(landed.values()) and trial + 1 < MAX_TRIALS):
        trial += 1
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(lake.root), str(k)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        # past the first TRIALS, only a phase no kill has landed in yet
        within = PHASES[trial % 3] if trial < TRIALS else next(p for p in PHASES if not landed[p])
        skip = rng.randint(0, 2)
        seen = []
        for line in child.stdout:
            seen.append(line.strip())
            if line.startswith(within):
                if skip == 0:
                    # an append takes about a millisecond, a seal tens, a compaction a few hundred
                    time.sleep(
                        rng.uniform(0, {"appending": 0.001, "sealing": 0.03, "compacting": 0.3}[within])
                    )
                    break
                skip -= 1
        child.kill()
        out, _ = child.communicate()
        seen += out.split("\n")
        committed.update(int(s.split()[1]) for s in seen if s.startswith("committed "))
        said = [
            s.split()[0]
            for s in seen
            if s
            and s.split()[0] in ("appending", "committed", "sealing", "sealed", "compacting", "compacted")
        ]
        if said and said[-1] in PHASES:
            landed[said[-1]] += 1
        tried = max([int(s.split()[1]) for s in seen if s.startswith("appending ")], default=k - 1)

        # readable as the next reader finds it, before any writer recovers the store
        back = read(lake, "trades", sources="all")
        for f in lake.root.rglob("*.parquet"):
            pq.read_metadata(f)  # every visible file whole
        ids = back.group_by("canonical").agg(pl.col("trade_id"))
        got = {c: set(v) for c, v in ids.iter_rows()}
        assert got["BTC-USDT-PERP"] >= set(range(SEED_ROWS)), "seeded rows lost"
        for coin in SYMBOLS:
            have = got.get(f"{coin}-USDT-PERP", set())
            for b in range(tried + 1):
                first = SEED_ROWS + b * 2 * PER_PART
                present = len(have & set(range(first, first + 2 * PER_PART)))
                assert present in (0, 2 * PER_PART), f"batch {b} {coin}: {present} of {2 * PER_PART} rows"
                if b in committed:
                    assert present == 2 * PER_PART, f"committed batch {b} {coin} missing"
        assert back.height == back.unique(["canonical", "trade_id"]).height  # no row twice
        k = tried + 1

    assert all(landed.values()), landed  # the kills landed in appends, seals and compactions
    # store compact seals the last killed session's log and folds every part
    before = read(lake, "trades", sources="all")
    lake.compact()
    assert not log_files(lake, "trades")
    assert not any(is_part(p) for p in lake.root.rglob("*.parquet"))
    assert read(lake, "trades", sources="all").equals(before)
