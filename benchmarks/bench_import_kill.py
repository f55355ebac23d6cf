"""Fault probe (issue 21), longer than CI runs it: ``python -m benchmarks.bench_import_kill [trials]``.

Runs ``trials`` (default 44, as the probe did) kill -9s of a real import (the loop of
``tests/faults/test_import_kill.py``) and prints the figures: kills that landed, stores unreadable,
files torn (rows present / rows in file), kills that landed mid-commit, temporary files left by the
kills and whether the next import cleaned them, re-imports that differ from a clean import. Then refuses
a file with a 1 GiB line and prints the time and peak memory it took (the probe: 95 s, 5.9 GB).

``PERPSCOPE_SRC=/other/checkout/src PYTHONPATH=/other/checkout/src:.`` runs another version's importer.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from tests.faults.hostile.corpus import long_line
from tests.faults.test_import_kill import kill_loop

from perpscope.ingest.importer import import_paths
from perpscope.store import Lake


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 44
    t0 = time.perf_counter()
    fig, exp = kill_loop(trials)
    print(
        f"kill -9 loop, {trials} trials in {time.perf_counter() - t0:.0f}s (clean import {exp.seconds:.2f}s):"
    )
    for name, value in vars(fig).items():
        print(f"  {name}: {value}")
    mib = int(os.environ.get("LONG_LINE_MIB", "1024"))  # the old importer needs ~6x this in memory
    with tempfile.TemporaryDirectory() as d:
        bad = long_line(mib << 20)(Path(d))
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t1 = time.perf_counter()
        report = import_paths([bad], Lake(Path(d) / "data"))
        seconds = time.perf_counter() - t1
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        answer = report.failed[0].error if report.failed else "imported"
        print(f"{mib} MiB line: {seconds:.2f}s, peak memory +{grew:.0f} MiB; {answer}")


if __name__ == "__main__":
    main()
