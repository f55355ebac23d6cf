"""The plain-words verdict states what the study measured: checked on the committed study results
(docs/studies/*.json), each claim against those files' own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perpscope.evaluate.verdict import ALPHA, PRIOR, verdict
from perpscope.report.evaluation import render_markdown

STUDIES = Path(__file__).resolve().parents[2] / "docs" / "studies"


def _load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((STUDIES / f"{name}.json").read_text())


def test_walk_forward_verdict_states_the_best_hit_rate_and_the_corrected_tests() -> None:
    r = _load("claim_71pct")
    rows = [v for v in r["variants"] if v["name"] != PRIOR]
    best = max(rows, key=lambda v: v["hit_rate_indep"])
    text = verdict(r)
    assert (
        f"{best['hits_indep']}/{best['n_indep']}" in text and f"{best['hit_rate_indep'] * 100:.1f}%" in text
    )
    significant = [v for v in rows if v["pt_q"] is not None and v["pt_q"] < ALPHA]
    assert ("None predicted direction better than chance" in text) == (not significant)
    skill = sum(1 for v in rows if v["brier_skill"] > 0)
    assert f"{skill} of {len(rows)} gave better probabilities" in text
    assert f"{r['deflated_sharpe']['dsr']:.2f}" in text


def test_event_verdict_counts_the_pairs_the_q_values_pass() -> None:
    r = _load("derivatives_signals")
    text = verdict(r)
    passed = [e for e in r["events"] if e["hit_qvalue"] is not None and e["hit_qvalue"] < ALPHA]
    assert (f"{len(passed)} signal/horizon pair(s)" in text) if passed else ("No signal's hit rate" in text)
    excl = sum(1 for e in r["events"] if e["ci_lo"] > 0 or e["ci_hi"] < 0)
    assert f"{excl} of {len(r['events'])} pair(s)" in text


def test_settlement_verdict_counts_cells_below_alpha() -> None:
    r = _load("funding_settlement")
    cells = r["settlement"]
    sig = sum(1 for c in cells if c["q"] is not None and c["q"] < ALPHA)
    assert verdict(r).startswith(f"Around funding settlements, {sig} of {len(cells)}")


@pytest.mark.parametrize("name", ["claim_71pct", "derivatives_signals", "funding_settlement"])
def test_the_report_opens_with_the_verdict(name: str) -> None:
    r = _load(name)
    md = render_markdown(r)
    head = md[: md.index("## ")]
    assert "**Verdict.** " + verdict(r) in head
