"""Running a study on its data: the user's store (the ``lake`` dataset) or the team's shared files.

:func:`study_result` loads the panel a :class:`~perpscope.evaluate.spec.StudySpec` names, checks the
store can feed it (:mod:`perpscope.assemble.study_data`), classifies regimes when the study is labelled
by them, and runs it (:func:`perpscope.evaluate.run_study`). ``perpscope evaluate`` writes its reports
from the result; ``evaluate --symbols`` stores one row per perp (:func:`study_rows`), run by
:mod:`perpscope.cluster` on any worker — which is why this lives here and not with the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from perpscope.assemble import study_data
from perpscope.core.errors import PerpscopeError
from perpscope.core.time import MINUTE_MS, interval_ms
from perpscope.evaluate.spec import StudySpec
from perpscope.evaluate.verdict import verdict
from perpscope.store import Lake


def study_result(
    spec: Any,
    shared: Path,
    lk: Lake | None,
    store: bool = False,
    progress: Callable[[str], None] | None = None,
    where: str | None = None,
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Run ``spec`` (a :class:`~perpscope.evaluate.spec.StudySpec`, already on the store when
    ``store``) on its dataset: the ``lake`` dataset of ``lk``, or a shared dataset under ``shared``.
    Returns the JSON-safe results, the data notes and why no trial was scored (if none was).

    ``where``: how errors name the spec (its file). Raises PerpscopeError when the data cannot feed it.
    """
    from perpscope.assemble.datasets import SHARED_DATASETS, absent_features, lake_dataset, why_no_trials
    from perpscope.evaluate import run_study, settlement_windows
    from perpscope.evaluate.study import with_bar_returns

    say = progress or (lambda _: None)
    say(f"{spec.name}: loading the dataset ({spec.dataset})")
    missing: dict[str, list[str]] = {}
    if spec.dataset == "lake":
        if lk is None:
            raise PerpscopeError("dataset 'lake' needs the command's context (a --data-dir)")
        ds = lake_dataset(lk, spec.dataset_options)
        panel, notes, missing = ds.panel, ds.notes, ds.missing
        gaps = study_data.unmet(spec, missing)
        if not study_data.can_run(spec, gaps):
            raise PerpscopeError(cannot_run(spec, gaps, lk))
        if store and gaps:  # a built-in study on a store: what the store cannot feed is left out, said so
            spec = study_data.feedable(spec, gaps)
            notes += [f"left out on your store, {line}" for line in study_data.needs_lines(gaps)]
            say("; ".join(f"no {m} in the store" for m in gaps))
    elif spec.dataset in SHARED_DATASETS:
        panel, notes = SHARED_DATASETS[spec.dataset](shared, spec.dataset_options)
    else:
        raise PerpscopeError(
            f"{where or spec.name}: unknown dataset {spec.dataset!r}; "
            f"expected 'lake' or one of {sorted(SHARED_DATASETS)}"
        )
    notes = [*notes, *spec.notes]
    panel = with_bar_returns(panel)  # a feature run_study derives is not absent
    absent = absent_features([f for v in spec.variants for f in v.features], panel, missing)
    if absent:
        raise PerpscopeError(
            f"{where or spec.name}: walk-forward features not in the panel: {'; '.join(absent)}. Import the "
            'inputs (perpscope import PATH), widen dataset_options (venue = "all"), or drop those features '
            "(docs/metrics.md lists the panel's columns)"
        )
    if spec.kind == "settlement":
        opts = spec.dataset_options
        window = interval_ms(str(opts.get("window", "30m"))) if opts.get("window") else 30 * MINUTE_MS
        hours = tuple(int(h) for h in opts.get("settlement_hours", (0, 8, 16)))
        from dataclasses import asdict

        from perpscope.core.time import interval_label

        t = panel.get_column("ts_ms").dt.epoch("ms")
        result: dict[str, Any] = {
            "spec": asdict(spec),
            "data": {
                "rows": panel.height,
                "series": panel.select("venue", "canonical").unique().rows(),
                "bar": interval_label(int(t.diff().drop_nulls().min())),  # type: ignore[arg-type]
                "first_ms": int(t.min()),  # type: ignore[arg-type]
                "last_ms": int(t.max()),  # type: ignore[arg-type]
            },
            "settlement": settlement_windows(panel, window, hours),
        }
    else:
        if spec.label_column == "regime":
            say("classifying regimes for the label event study")
        labels = regime_labels(panel) if spec.label_column == "regime" else None
        if spec.label_column == "regime" and labels is None:
            notes.append(
                "regime labels: perpscope.regimes.classify is not available in this build; the label "
                "event study was skipped"
            )
        result = run_study(spec, panel, labels, progress=say)
    from perpscope.core.format import json_safe

    result = json_safe(result)
    why = why_no_trials(result, missing)
    notes += why
    return result, notes, why


def study_rows(lake: Lake, venue: str, canonical: str, spec: StudySpec) -> pl.DataFrame:
    """One task of ``evaluate --symbols`` (:mod:`perpscope.cluster`): ``spec`` on the store for one
    venue and perp, as one row of the ``studies`` dataset — ``venue, canonical, study, rows`` (panel
    bars), ``trials`` (walk-forward trials logged), ``verdict`` (the report's opening paragraph) and
    ``results_json`` (what ``<name>.json`` of a single run holds)."""
    spec = study_data.on_store(spec)
    opts = {**spec.dataset_options, "symbol": canonical, "venue": venue}
    spec = replace(spec, dataset_options=opts)
    result, notes, _ = study_result(spec, Path("."), lake, store=True, where=spec.name)
    body = {k: v for k, v in result.items() if k != "pnl"} | {"data_notes": notes}
    return pl.DataFrame(
        {
            "venue": [venue],
            "canonical": [canonical],
            "study": [spec.name],
            "rows": [int(result.get("data", {}).get("rows", 0))],
            "trials": [int((result.get("trials") or {}).get("count", 0))],
            "verdict": [verdict(result)],
            "results_json": [json.dumps(body, sort_keys=True)],
        }
    )


def cannot_run(spec: Any, gaps: dict[str, list[str]], lk: Any) -> str:
    """Why ``spec`` cannot run on the store ``lk``: the records it needs, and what the store holds for
    its symbol (record by record, with venues and dates)."""
    from perpscope.assemble.holdings import holdings_text

    sym = spec.dataset_options.get("symbol")
    held = holdings_text(lk, [sym, f"{sym.split('-')[0]}-AGG-PERP"]) if sym else ""
    what = f" for {sym}" if sym else ""
    return (
        f"study {spec.name!r} cannot run on the store {lk.root}{what}: "
        + "; ".join(study_data.needs_lines(gaps))
        + (f". The store holds{what}: {held}" if held else f". The store holds nothing{what}")
        + ". Import those records (perpscope import PATH), or run the study on the shared files it was "
        "written for (--shared PATH/TO/shared/data)"
    )


def regime_labels(panel: pl.DataFrame) -> pl.DataFrame:
    """Regime labels per bar (:func:`perpscope.regimes.classify`): ``regime``, and ``treadmill_cycle`` —
    True on the bar where a treadmill cycle completes (its second flush ends), the first instant the cycle
    is known. The study's panel spans its whole period, so only its first
    :data:`~perpscope.assemble.regime_reading.REGIME_WARM_MS` read ``insufficient_data``."""
    from perpscope.regimes import classify, treadmill

    full = classify(panel, evidence=False)
    lab = full.select("venue", "canonical", "ts_ms", "regime")
    done = None
    cyc = treadmill(full)  # the labels above: no second classification
    if cyc.height and "treadmill" in cyc.columns:
        done = (
            cyc.filter(pl.col("treadmill"))
            .select("venue", "canonical", pl.col("next_flush_end_ms").alias("ts_ms"))
            .with_columns(
                pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")), pl.lit(True).alias("treadmill_cycle")
            )
            .unique()
        )
    if done is None:
        return lab.with_columns(pl.lit(False).alias("treadmill_cycle"))
    return lab.join(done, on=["venue", "canonical", "ts_ms"], how="left").with_columns(
        pl.col("treadmill_cycle").fill_null(False)
    )
