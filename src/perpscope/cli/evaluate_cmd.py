"""``perpscope evaluate``: run a study spec (or a built-in study) and write its report and results."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from perpscope.cli import evaluate_data
from perpscope.cli.batch import run_batch
from perpscope.cli.common import console, err_console, fail, reading_lake
from perpscope.cli.options import ClusterOpt, SymbolsOpt, check_choice
from perpscope.core.errors import PerpscopeError
from perpscope.core.time import MINUTE_MS, interval_ms
from perpscope.store import Lake

if TYPE_CHECKING:
    import polars as pl

    from perpscope.cluster.tasks import Task


def _default_shared() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "data"
        if (cand / "SOURCES.md").exists():
            return cand
    return Path("../shared/data")


#: Report formats of ``--format``.
FORMATS = ("both", "md", "html")


def run_spec(
    spec_path: Path,
    shared: Path,
    out_dir: Path,
    ctx: typer.Context | None = None,
    fmt: str = "both",
    progress: Callable[[str], None] | None = None,
    store: bool = False,
    venue: str | None = None,
) -> dict[str, Any]:
    """Load the spec's dataset, run it, write ``<name>.json`` and the report into ``out_dir``.

    ``fmt``: ``md`` (``<name>.md``, with its charts as ``<name>_<chart>.png`` beside it when a Chromium
    is installed for kaleido), ``html`` (``<name>.html``, self-contained, interactive charts) or
    ``both``. Returns the results, with ``written`` (paths) and ``png_skipped`` (reason or None).

    ``store``: run a spec written for the shared files on the user's store instead (its ``lake``
    equivalent, :func:`perpscope.cli.evaluate_data.on_store`; ``venue``: the venue scope there).
    """
    from perpscope.evaluate import load_spec
    from perpscope.report.evaluation import render_html, render_markdown
    from perpscope.report.evaluation_charts import can_write_png, study_figures, write_pngs

    say = progress or (lambda _: None)
    spec = load_spec(spec_path)
    if store:
        try:
            spec = evaluate_data.on_store(spec, venue)
        except ValueError as e:
            raise PerpscopeError(f"{spec_path}: {e}") from None
    lk = reading_lake(ctx) if ctx is not None and spec.dataset == "lake" else None
    result, notes, why = study_result(spec, shared, lk, store, say, str(spec_path))
    say(f"writing the report to {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / f"{spec.name}.json"
    # the P&L paths (numpy, one value per period) are drawn, not stored: the JSON keeps the scores
    js.write_text(
        json.dumps({k: v for k, v in result.items() if k != "pnl"} | {"data_notes": notes}, indent=1) + "\n"
    )
    written, skipped = [js], None
    figs = study_figures(result)
    if fmt in ("md", "both"):
        charts: dict[str, str] = {}
        if figs and can_write_png():
            charts = write_pngs(figs, out_dir, spec.name)
            written += [out_dir / f for f in charts.values()]
        elif figs:
            skipped = "no `chromium` on PATH for kaleido: charts are only in the HTML report"
        md = out_dir / f"{spec.name}.md"
        md.write_text(render_markdown(result, notes, charts))
        written.append(md)
    if fmt in ("html", "both"):
        page = out_dir / f"{spec.name}.html"
        page.write_text(render_html(result, notes, figs))
        written.append(page)
    return result | {"written": written, "png_skipped": skipped, "why": why}


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
        gaps = evaluate_data.unmet(spec, missing)
        if not evaluate_data.can_run(spec, gaps):
            raise PerpscopeError(_cannot_run(spec, gaps, lk))
        if store and gaps:  # a built-in study on a store: what the store cannot feed is left out, said so
            spec = evaluate_data.feedable(spec, gaps)
            notes += [f"left out on your store, {line}" for line in evaluate_data.needs_lines(gaps)]
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
        labels = _regime_labels(panel) if spec.label_column == "regime" else None
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


def study_rows(lake: Lake, task: Task) -> pl.DataFrame:
    """A batch task of ``evaluate --symbols`` (:mod:`perpscope.cluster`): the study ``task.option("spec")``
    on the store for ``task``'s venue and perp, as one row of the ``studies`` dataset — ``venue,
    canonical, study, rows`` (panel bars), ``trials`` (walk-forward trials logged), ``verdict`` (the
    report's paragraph) and ``results_json`` (what ``<name>.json`` of a single run holds)."""
    from dataclasses import replace

    import polars as pl

    from perpscope.report.verdict import verdict

    spec = evaluate_data.on_store(task.option("spec"))
    opts = {**spec.dataset_options, "symbol": task.canonical, "venue": task.venue}
    spec = replace(spec, dataset_options=opts)
    result, notes, _ = study_result(spec, Path("."), lake, store=True, where=spec.name)
    body = {k: v for k, v in result.items() if k != "pnl"} | {"data_notes": notes}
    return pl.DataFrame(
        {
            "venue": [task.venue],
            "canonical": [task.canonical],
            "study": [spec.name],
            "rows": [int(result.get("data", {}).get("rows", 0))],
            "trials": [int((result.get("trials") or {}).get("count", 0))],
            "verdict": [verdict(result)],
            "results_json": [json.dumps(body, sort_keys=True)],
        }
    )


def _cannot_run(spec: Any, gaps: dict[str, list[str]], lk: Any) -> str:
    """Why ``spec`` cannot run on the store ``lk``: the records it needs, and what the store holds for
    its symbol (record by record, with venues and dates)."""
    from perpscope.assemble.holdings import holdings_text

    sym = spec.dataset_options.get("symbol")
    held = holdings_text(lk, [sym, f"{sym.split('-')[0]}-AGG-PERP"]) if sym else ""
    what = f" for {sym}" if sym else ""
    return (
        f"study {spec.name!r} cannot run on the store {lk.root}{what}: "
        + "; ".join(evaluate_data.needs_lines(gaps))
        + (f". The store holds{what}: {held}" if held else f". The store holds nothing{what}")
        + ". Import those records (perpscope import PATH), or run the study on the shared files it was "
        "written for (--shared PATH/TO/shared/data)"
    )


def _regime_labels(panel: Any) -> Any:
    """Labels from ``perpscope.regimes`` (None if that API is absent): ``regime`` per bar, and
    ``treadmill_cycle`` — True on the bar where a treadmill cycle completes (its second flush ends),
    the first instant the cycle is known."""
    import polars as pl

    from perpscope import regimes

    classify = getattr(regimes, "classify", None)
    if classify is None:
        return None
    lab = classify(panel, evidence=False).select("venue", "canonical", "ts_ms", "regime")
    tread = getattr(regimes, "treadmill", None)
    done = None
    if tread is not None:
        cyc = tread(panel)
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


def evaluate(
    ctx: typer.Context,
    spec: Annotated[Path | None, typer.Argument(help="A study spec (TOML); see docs/evaluate.md.")] = None,
    study: Annotated[str | None, typer.Option("--study", help="Run a built-in study by name.")] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for <name>.md, .html and .json (the repo's: docs/studies).")
    ] = Path("perpscope-studies"),
    shared: Annotated[
        Path | None,
        typer.Option("--shared", help="The shared real-data folder (default: ../shared/data)."),
    ] = None,
    on_store: Annotated[
        bool,
        typer.Option(
            "--on-store",
            help="Run the built-in study on your store (--data-dir) rather than the shared files it was "
            "written for (the default when those are absent); it says which records it needs when the "
            "store lacks them.",
        ),
    ] = False,
    venue: Annotated[
        str | None,
        typer.Option(
            "--venue",
            help="With --on-store: the venue scope (binance, all; default: each venue); with --symbols: "
            "the venue whose perps are batched (default: all).",
        ),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the built-in studies.")] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="Report: md (Markdown + PNG charts when chromium is installed), html (self-contained, "
            "interactive charts) or both. The JSON results are always written.",
        ),
    ] = "both",
    symbols: SymbolsOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Test a signal the way a careful researcher would: event study, walk-forward, every trial counted.

    With --symbols, the study runs on the store once per venue and perp, each result written into the
    store (studies/) instead of a report."""
    from perpscope.evaluate import builtin_studies, load_spec

    studies = builtin_studies()
    if list_:
        for name, path in studies.items():
            needs = ", ".join(evaluate_data.needed_measures(load_spec(path)))
            console().print(f"[bold]{name}[/] reads {needs}", highlight=False)
            console().print(f"  [dim]{path}[/]", highlight=False, soft_wrap=True)
        return
    check_choice("--format", fmt, FORMATS)
    if (spec is None) == (study is None):
        raise fail("give either a spec file or --study NAME (see --list)")
    if study is not None:
        if study not in studies:
            raise fail(f"unknown study {study!r}; built-in studies: {', '.join(studies)}")
        spec = studies[study]
    assert spec is not None
    if symbols is not None:  # a batch (perpscope.cluster): the study on the store, per venue and perp
        try:
            loaded = evaluate_data.on_store(load_spec(spec), None)
        except ValueError as e:
            raise fail(f"{spec}: {e}") from None
        scope = venue or "all"
        opts = (("spec", loaded),)
        return run_batch(
            ctx, reading_lake(ctx), "evaluate", symbols, cluster, scope, None, None, None, opts, study_rows
        )
    if cluster is not None:
        raise fail("--cluster runs a batch: give --symbols too")
    shared_dir = shared or _default_shared()
    if study is not None and not on_store and not (shared_dir / "SOURCES.md").exists():
        # a user who installed perpscope has no shared files: the study reads their store instead
        err_console().print(f"[dim]note: no shared data at {shared_dir}: running {study} on your store[/]")
        on_store = True
    try:
        # progress on standard error (a spinner on a terminal, nothing when piped): a study runs for tens
        # of seconds, and silence reads as a hang
        with err_console().status("starting") as status:
            result = run_spec(
                spec, shared_dir, out, ctx, fmt, progress=status.update, store=on_store, venue=venue
            )
    except PerpscopeError as e:
        raise fail(str(e)) from None
    n_trials = (result.get("trials") or {}).get("count", 0)
    files = ", ".join(str(p) for p in result["written"])
    from perpscope.report.verdict import verdict

    said = verdict(result)
    if said:
        console().print(f"[bold]Verdict.[/] {escape(said)}", highlight=False)
    console().print(f"wrote {files} ({n_trials} trials logged)")
    why = list(result.get("why") or [])
    if n_trials == 0 and "trials" in result and not result.get("variants") and not why:
        why = ["the spec has no [walkforward] variants: only the event study ran"]
    if why:
        con = console()
        con.print(f"[yellow]{'no trial logged' if n_trials == 0 else 'not scored'}:[/]")
        for line in why:
            con.print(f"  · {line}", highlight=False)
    if result["png_skipped"]:
        console().print(f"[yellow]PNG charts skipped[/]: {result['png_skipped']}")
