"""The regime event-reading benchmark: dated real events of ``../shared/data`` read by the regime engine.

``python -m benchmarks.regime_events [--data-dir DIR] [--split tune|holdout] [--facts]`` builds, for each
event of ``benchmarks/regime_events.toml``, the panel the way ``perpscope regimes SYMBOL --venue all
--every 4h --from … --to …`` does (:func:`perpscope.assemble.panel.market_panel`, ``.priced``), runs
``classify``, ``treadmill`` and ``circuit_breakers`` and prints per event *matched* / *partial* /
*missed* with the reason, then the counts per split. ``--facts`` prints the data's own numbers of each
event window instead (what the table's ``[event.facts]`` record; ``tests/regimes/test_regime_events.py``
checks that they still hold).

The store is one imported from all of ``../shared/data`` the README way (``perpscope --data-dir DIR import
../shared/data``); the default ``DIR`` is ``/tmp/events-store``, imported on first use when absent.

Scoring (docs/regimes.md, "Reading real events: the benchmark"):

- an expectation of labels is **hit** when a bar in ``[from, to)`` carries one of its labels; **near** when
  it does not but a bar within ``slack`` (default one day, the engine's window) before ``from`` or after
  ``to`` does (the event was read, misdated); else **miss**;
- ``burst`` is hit when ``liq_burst_w`` is true on a bar of ``[from, to)``; ``treadmill`` is hit when a
  cycle's first flush starts in ``[from, to)`` (``chain = true``: in a chain of at least ``min_cycles``;
  ``present = false``: hit when no cycle's first or next flush starts there);
  ``breaker`` is hit when the check is engaged at the last bar before ``to``;
- an event is **matched** when every expectation is hit, **missed** when none is hit or near, and
  **partial** otherwise.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.common import Result, shared_store
from perpscope.assemble.flows import panel_flow_inputs
from perpscope.assemble.panel import market_panel
from perpscope.core.time import DAY_MS, interval_ms, parse_time_ms
from perpscope.regimes import circuit_breakers, classify, treadmill
from perpscope.store import Lake

TABLE = Path(__file__).with_name("regime_events.toml")
DEFAULT_STORE = Path("/tmp/events-store")
TS = pl.Datetime("ms", "UTC")
# facts are recorded to this many significant digits; the test compares at this precision
FACT_DIGITS = 6
# facts are read from a panel of the window ± this many days, whatever context an event asks for its reading:
# a longer panel can reach back to a sampled force-order recording, after which the panel counts bars without
# one as 0 liquidated (docs/metrics.md), which would make "no liquidation data" read as "none liquidated"
FACTS_CONTEXT_DAYS = 3
# the engine reads each event from a panel starting this many days before it: the burst baseline
# (RegimeConfig.burst_baseline_ms, 30 days) and the long window (3 days) before the window's first bar
READ_CONTEXT_DAYS = 33


@dataclass(frozen=True)
class Expectation:
    """One expected reading of an event: ``kind`` labels | burst | treadmill | breaker | absent
    (``absent``: at most ``max_share`` of the bars of ``[from, to)`` carry one of the labels — an event
    read where it happened, not smeared over the bars after it)."""

    kind: str
    start_ms: int
    end_ms: int
    labels: tuple[str, ...] = ()
    check: str = ""
    chain: bool = False
    slack_ms: int = DAY_MS
    note: str = ""
    max_share: float = 0.5
    present: bool = True  # treadmill: False = no cycle may touch the window (the data show none)

    def describe(self) -> str:
        what = {
            "labels": "/".join(self.labels),
            "breaker": f"breaker {self.check}",
            "absent": f"at most {self.max_share:.0%} of bars {'/'.join(self.labels)}",
            "treadmill": ("" if self.present else "no ")
            + ("treadmill chain" if self.chain else "treadmill cycle"),
        }.get(self.kind, self.kind)
        return f"{what} in [{_iso(self.start_ms)}, {_iso(self.end_ms)})"


@dataclass(frozen=True)
class Event:
    """A dated real event: the window whose numbers the table records, and its expected reading."""

    id: str
    symbol: str
    start_ms: int
    end_ms: int
    split: str
    every: tuple[str, ...]
    facts: dict[str, float]
    expect: tuple[Expectation, ...]
    context_days: int = 3
    summary: str = ""


@dataclass
class Outcome:
    """The engine's reading of one event at one bar size."""

    event: Event
    every: str
    verdict: str  # matched | partial | missed
    hits: list[tuple[Expectation, str, str]] = field(
        default_factory=list
    )  # (expectation, hit|near|miss, why)


def _iso(ms: int) -> str:
    return pl.Series([ms]).cast(TS).dt.strftime("%Y-%m-%d %H:%M")[0]


def _expectation(raw: dict[str, Any]) -> Expectation:
    kind = raw.get("kind", "labels")
    if kind not in ("labels", "burst", "treadmill", "breaker", "absent"):
        raise ValueError(f"unknown expectation kind {kind!r}")
    return Expectation(
        kind=kind,
        start_ms=parse_time_ms(raw["from"]),
        end_ms=parse_time_ms(raw["to"]),
        labels=tuple(raw.get("labels", ())),
        check=raw.get("check", ""),
        chain=bool(raw.get("chain", False)),
        slack_ms=interval_ms(raw.get("slack", "1d")),
        note=raw.get("note", ""),
        max_share=float(raw.get("max_share", 0.5)),
        present=bool(raw.get("present", True)),
    )


def load_events(path: Path = TABLE) -> list[Event]:
    """The events of the table, in its order (sorted by start; the split alternates by that order)."""
    doc = tomllib.loads(path.read_text())
    events = []
    for raw in doc["event"]:
        if raw["split"] not in ("tune", "holdout"):
            raise ValueError(f"{raw['id']}: split must be tune or holdout")
        events.append(
            Event(
                id=raw["id"],
                symbol=raw["symbol"],
                start_ms=parse_time_ms(raw["start"]),
                end_ms=parse_time_ms(raw["end"]),
                split=raw["split"],
                every=tuple(raw.get("every", ["4h"])),
                facts={k: float(v) for k, v in raw.get("facts", {}).items()},
                expect=tuple(_expectation(e) for e in raw.get("expect", ())),
                context_days=int(raw.get("context_days", 3)),
                summary=raw.get("summary", ""),
            )
        )
    return events


def event_panel(lake: Lake, ev: Event, every: str, context_days: int | None = None) -> pl.DataFrame:
    """The priced panel of the event's symbol over its window plus ``context_days`` (default: the event's)
    either side, built as ``perpscope regimes SYMBOL --venue all --every EVERY`` builds it."""
    pad = (ev.context_days if context_days is None else context_days) * DAY_MS
    return market_panel(lake, "all", ev.symbol, ev.start_ms - pad, ev.end_ms + pad, interval_ms(every)).priced


def event_facts(panel: pl.DataFrame, ev: Event) -> dict[str, float]:
    """The data's own numbers of the event window ``[start, end)`` from the panel's inputs (not labels).

    ``price_chg``: close of the window's last bar / close of the bar before the window − 1; ``low``,
    ``high``: over the window; ``oi_usd_chg``, ``oi_coin_chg``: the same for OI in USD and in coins
    (``oi_usd / close``); ``liq_long_usd``, ``liq_short_usd``: liquidated USD summed over the window's bars;
    ``funding_8h_before``, ``funding_8h_end``: the per-8h funding rate (settled, else sampled) at the bar
    before the window and at its last bar (fractions, 0.0001 = 0.01%).
    """
    funding: list[pl.Expr] = [
        pl.col(c) for c in ("funding_rate_8h", "funding_sampled_8h") if c in panel.columns
    ]
    p = panel.with_columns(
        pl.col("ts_ms").dt.epoch("ms").alias("_ms"),
        (pl.col("oi_usd") / pl.col("close") if "oi_usd" in panel.columns else pl.lit(None)).alias("_oi_coin"),
        (pl.coalesce(funding) if funding else pl.lit(None)).alias("_f8"),
    )
    inside = p.filter(pl.col("_ms").is_between(ev.start_ms, ev.end_ms - 1))
    before = p.filter(pl.col("_ms") < ev.start_ms).tail(1)
    if inside.is_empty() or before.is_empty():
        raise ValueError(f"{ev.id}: the store has no bars in or before the window")
    first, last = before.row(0, named=True), inside.row(-1, named=True)

    def chg(col: str) -> float:
        a, b = first.get(col), last.get(col)
        return float("nan") if a is None or b is None or a == 0 else b / a - 1

    def total(col: str) -> float:
        has = col in inside.columns and inside[col].is_not_null().any()
        return float(inside[col].fill_null(0).sum()) if has else float("nan")

    def val(row: dict[str, Any], col: str) -> float:
        v = row.get(col)
        return float("nan") if v is None else float(v)

    facts = {
        "close_before": val(first, "close"),
        "close_end": val(last, "close"),
        "price_chg": chg("close"),
        "low": float(inside["low"].min()),  # type: ignore[arg-type]
        "high": float(inside["high"].max()),  # type: ignore[arg-type]
        "oi_usd_chg": chg("oi_usd"),
        "oi_coin_chg": chg("_oi_coin"),
        "liq_long_usd": total("liq_long_usd"),
        "liq_short_usd": total("liq_short_usd"),
        "funding_8h_before": val(first, "_f8"),
        "funding_8h_end": val(last, "_f8"),
    }
    return {k: _round(v) for k, v in facts.items()}


def _round(x: float) -> float:
    """``x`` to :data:`FACT_DIGITS` significant digits (nan kept)."""
    return x if x != x or x == 0 else float(f"{x:.{FACT_DIGITS}g}")


def _bars_with(labels: pl.DataFrame, kind: str, e: Expectation, lo: int, hi: int) -> pl.DataFrame:
    b = labels.filter(pl.col("_ms").is_between(lo, hi - 1))
    if kind == "burst":
        return b.filter(pl.col("liq_burst_w").fill_null(False))
    return b.filter(pl.col("regime").is_in(list(e.labels)))


def _seen(labels: pl.DataFrame, e: Expectation) -> str:
    """What the engine read over ``[from, to)``: the labels by count, e.g. ``new_shorts×3, neutral×1``."""
    b = labels.filter(pl.col("_ms").is_between(e.start_ms, e.end_ms - 1))
    if b.is_empty():
        return "no bars"
    counts = b.group_by("regime").len().sort(["len", "regime"], descending=[True, False])
    return ", ".join(f"{r}×{n}" for r, n in counts.iter_rows())


def score_expectation(
    labels: pl.DataFrame,
    e: Expectation,
    cycles: pl.DataFrame | None = None,
    breakers: pl.DataFrame | None = None,
) -> tuple[str, str]:
    """``(hit|near|miss, why)`` of one expectation against the engine's ``classify`` output ``labels``
    (``cycles``: ``treadmill`` output, ``breakers``: ``circuit_breakers`` of the panel cut at ``to``)."""
    labels = labels.with_columns(pl.col("ts_ms").dt.epoch("ms").alias("_ms"))
    if e.kind == "absent":
        inside = labels.filter(pl.col("_ms").is_between(e.start_ms, e.end_ms - 1))
        n = inside.filter(pl.col("regime").is_in(list(e.labels))).height
        share = n / inside.height if inside.height else 1.0
        state = "hit" if inside.height and share <= e.max_share else "miss"
        return state, f"{e.describe()}: {n} of {inside.height} bar(s); got {_seen(labels, e)}"
    if e.kind in ("labels", "burst"):
        hit = _bars_with(labels, e.kind, e, e.start_ms, e.end_ms)
        if not hit.is_empty():
            return "hit", f"{e.describe()}: on {hit.height} bar(s) from {_iso(hit['_ms'][0])}"
        near = _bars_with(labels, e.kind, e, e.start_ms - e.slack_ms, e.end_ms + e.slack_ms)
        if not near.is_empty():
            when = ", ".join(_iso(int(t)) for t in near["_ms"].head(3))
            return "near", f"{e.describe()}: misdated, only at {when}; got {_seen(labels, e)}"
        got = _seen(labels, e) if e.kind == "labels" else "no burst"
        return "miss", f"{e.describe()}: got {got}"
    if e.kind == "treadmill":
        return _score_treadmill(e, cycles)
    b = breakers if breakers is not None else pl.DataFrame()
    row = b.filter(pl.col("check") == e.check) if not b.is_empty() else b
    if not row.is_empty() and row["engaged"][0] is True:
        return "hit", f"{e.describe()}: engaged ({row['evidence'][0]})"
    why = row["evidence"][0] if not row.is_empty() else "no such check"
    return "miss", f"{e.describe()}: not engaged ({why})"


def _score_treadmill(e: Expectation, cycles: pl.DataFrame | None) -> tuple[str, str]:
    """A treadmill expectation: ``present`` — a cycle's first flush starts in ``[from, to)``; not
    ``present`` — no cycle has its first or its next flush start there (the event is in no cycle).
    ``chain``: only cycles of a chain of ``min_cycles`` count."""
    c = cycles if cycles is not None else pl.DataFrame()
    n = c.height
    if not c.is_empty() and e.chain:
        c = c.filter(pl.col("treadmill"))
    cols = [k for k in ("flush_start_ms", "next_flush_start_ms") if k in c.columns]
    cols = cols if not e.present else cols[:1]
    if not c.is_empty():
        c = c.filter(
            pl.any_horizontal(pl.col(k).dt.epoch("ms").is_between(e.start_ms, e.end_ms - 1) for k in cols)
        )
    if c.is_empty():
        return ("miss" if e.present else "hit"), f"{e.describe()}: no such cycle ({n} cycle(s) in the panel)"
    when = " → ".join(_iso(int(c[k].dt.epoch("ms")[0])) for k in cols)
    return ("hit" if e.present else "miss"), f"{e.describe()}: cycle {when}"


def verdict(states: list[str]) -> str:
    """``matched`` when every expectation is hit, ``missed`` when none is hit or near, else ``partial``."""
    if states and all(s == "hit" for s in states):
        return "matched"
    if not any(s in ("hit", "near") for s in states):
        return "missed"
    return "partial"


def read_event(lake: Lake, ev: Event, every: str) -> Outcome:
    """Run the engine over one event at one bar size and score every expectation."""
    # the reading gets the burst baseline's 30 days before the window (as `perpscope regimes` reads a
    # warm-up before --from); facts keep their own context (FACTS_CONTEXT_DAYS)
    panel = event_panel(lake, ev, every, max(ev.context_days, READ_CONTEXT_DAYS))
    labels = classify(panel)
    cycles = treadmill(labels) if any(e.kind == "treadmill" for e in ev.expect) else None
    out = Outcome(ev, every, "missed")
    for e in ev.expect:
        breakers = None
        if e.kind == "breaker":
            # as `perpscope regimes` reads them: with the flow inputs public at the last bar's end
            cut = panel.filter(pl.col("ts_ms").dt.epoch("ms") < e.end_ms)
            breakers = circuit_breakers(cut, flows=panel_flow_inputs(lake, cut))
        state, why = score_expectation(labels, e, cycles, breakers)
        out.hits.append((e, state, why))
    out.verdict = verdict([s for _, s, _ in out.hits])
    return out


def run_events(lake: Lake, events: list[Event], everies: tuple[str, ...] | None = None) -> list[Outcome]:
    """Every event at each of its bar sizes (or only those of ``everies`` it lists)."""
    return [
        read_event(lake, ev, ev_every)
        for ev in events
        for ev_every in ev.every
        if everies is None or ev_every in everies
    ]


def counts(outcomes: list[Outcome], every: str = "4h") -> dict[str, dict[str, int]]:
    """``{split: {matched, partial, missed}}`` at one bar size."""
    out: dict[str, dict[str, int]] = {}
    for o in outcomes:
        if o.every == every:
            c = out.setdefault(o.event.split, {"matched": 0, "partial": 0, "missed": 0})
            c[o.verdict] += 1
    return out


def run(data_dir: Path = DEFAULT_STORE) -> list[Result]:
    """For ``python -m benchmarks``: the matched / partial / missed counts per split and bar size (none, with
    a note, when the store of ../shared/data has not been imported at ``data_dir``)."""
    if shared_store(data_dir, "regime events") is None:
        return []
    outcomes = run_events(Lake(data_dir), load_events())
    rows = []
    for every in sorted({o.every for o in outcomes}, key=interval_ms, reverse=True):
        for split, c in sorted(counts(outcomes, every).items(), reverse=True):
            for v in ("matched", "partial", "missed"):
                rows.append(
                    Result(
                        f"regime events {every} {split} {v}", c[v], "events", target=f"of {sum(c.values())}"
                    )
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.regime_events", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_STORE)
    ap.add_argument("--split", choices=("tune", "holdout"))
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--facts", action="store_true", help="print each window's own numbers instead")
    a = ap.parse_args(argv)
    if shared_store(a.data_dir, "regime events") is None:
        return 2
    lake = Lake(a.data_dir)
    events = [e for e in load_events(a.table) if a.split is None or e.split == a.split]
    if a.facts:
        for ev in events:
            f = event_facts(event_panel(lake, ev, "4h", FACTS_CONTEXT_DAYS), ev)
            print(f"[{ev.id}] " + ", ".join(f"{k} = {v}" for k, v in f.items()))
        return 0
    outcomes = run_events(lake, events)
    for o in outcomes:
        print(f"{o.event.id:<34} {o.every:>3} {o.event.split:<8} {o.verdict.upper()}")
        for _, state, why in o.hits:
            print(f"    {state:<5} {why}")
    for every in sorted({o.every for o in outcomes}, key=interval_ms, reverse=True):
        for split, c in sorted(counts(outcomes, every).items(), reverse=True):
            n = sum(c.values())
            print(
                f"{every} {split:<8} {n:>2} events: {c['matched']} matched, {c['partial']} partial, "
                f"{c['missed']} missed"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
