"""Hostile files beside valid ones (issue 21): the valid files import whole, the hostile one is refused
with a reason naming file, row and problem, and nothing of it reaches the store."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest
from tests.faults.hostile.corpus import Hostile, corpus, long_line, valid_files

from perpscope.ingest.importer import import_paths
from perpscope.records import RECORDS
from perpscope.store import Lake
from perpscope.store.reader import read


def store_rows(lake: Lake) -> dict[str, pl.DataFrame]:
    """Every stored record, sorted, for comparing two stores."""
    out = {}
    for name in lake.records_present():
        df = read(lake, name, sources="all")
        out[name] = df.sort(df.columns)
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    """The store the valid files alone give."""
    lake = Lake(tmp_path_factory.mktemp("clean") / "data")
    report = import_paths(valid_files(), lake)
    assert not report.failed, [f.error for f in report.failed]
    return store_rows(lake)


@pytest.mark.parametrize("hostile", corpus(long_line_bytes=64 << 20), ids=lambda h: h.what.strip())
def test_a_hostile_file_is_refused_with_its_reason_and_the_valid_ones_import(
    hostile: Hostile, tmp_path: Path, clean: dict[str, pl.DataFrame]
) -> None:
    bad = hostile.build(tmp_path / "in")
    lake = Lake(tmp_path / "data")
    report = import_paths([*valid_files(), bad], lake)
    outcome = {f.path: f for f in report.files}
    assert [f.path for f in report.imported] == valid_files()
    error = outcome[bad].error
    assert error is not None, f"{hostile.name}: stored {outcome[bad].rows}"
    assert str(bad) in error
    for words in hostile.expect:
        assert words in error, f"{hostile.name}: {words!r} not in {error!r}"
    assert store_rows(lake).keys() == clean.keys()
    for name, rows in store_rows(lake).items():
        assert rows.equals(clean[name]), name  # nothing of the hostile file, all of the valid ones
    assert [p for p in lake.root.rglob("*") if ".tmp-" in p.name] == []


def test_rejected_rows_are_counted_per_file(tmp_path: Path) -> None:
    by_name = {h.name: h for h in corpus()}
    bad = by_name["negative low"].build(tmp_path / "in")
    report = import_paths([bad], Lake(tmp_path / "data"))
    assert report.rows_rejected() == 1 and report.failed[0].rejected_rows == 1


def test_a_line_of_256_mib_is_refused_fast_and_in_bounded_memory(tmp_path: Path) -> None:
    """The probe's 1 GB line took 95 s and 5.9 GB; the bound stops reading after ~1 MiB of it."""
    import resource

    bad = long_line(256 << 20)(tmp_path)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    report = import_paths([bad], Lake(tmp_path / "data"))
    seconds = time.perf_counter() - t0
    grew_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert report.failed and "line longer than" in (report.failed[0].error or "")
    assert seconds < 5, seconds
    assert grew_kib < 200 * 1024, f"peak memory grew {grew_kib} KiB"


def test_every_record_type_has_its_own_checks() -> None:
    from perpscope.records.validate import RULES

    assert set(RULES) == set(RECORDS)
