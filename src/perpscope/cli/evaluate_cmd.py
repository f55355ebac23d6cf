"""``perpscope evaluate``: run a study spec (or a built-in study) and write its report and results."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from perpscope.assemble import study_data
from perpscope.assemble.study_run import study_result
from perpscope.cli.batch import run_batch
from perpscope.cli.common import console, err_console, fail, reading_lake
from perpscope.cli.options import ClusterOpt, SymbolsOpt, check_choice
from perpscope.core.errors import PerpscopeError


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
    equivalent, :func:`perpscope.assemble.study_data.on_store`; ``venue``: the venue scope there).
    """
    from perpscope.evaluate import load_spec
    from perpscope.report.evaluation import render_html, render_markdown
    from perpscope.report.evaluation_charts import can_write_png, study_figures, write_pngs

    say = progress or (lambda _: None)
    spec = load_spec(spec_path)
    if store:
        try:
            spec = study_data.on_store(spec, venue)
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
            needs = ", ".join(study_data.needed_measures(load_spec(path)))
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
            loaded = study_data.on_store(load_spec(spec), None)
        except ValueError as e:
            raise fail(f"{spec}: {e}") from None
        scope = venue or "all"
        opts = (("spec", loaded),)
        return run_batch(ctx, reading_lake(ctx), "evaluate", symbols, cluster, scope, None, None, None, opts)
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
    from perpscope.evaluate.verdict import verdict

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
