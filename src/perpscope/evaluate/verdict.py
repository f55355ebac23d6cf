"""A study's verdict in plain words: one paragraph that opens its report and the terminal output,
written from the numbers the study measured (never from what it was hoped to show).

Walk-forward variants are judged against the majority class of their test windows with the binomial
test and the Pesaran–Timmermann test after Benjamini–Hochberg over every trial (``pt_q``), and their
trading rule by the reality check / SPA over the variants and the deflated Sharpe ratio; event signals
by the Benjamini–Hochberg q-value of their hit rate against the bars' base rate (``hit_qvalue``) and the
interval of their mean return; settlement windows by their q-value against control windows. A level of
5% throughout (``ALPHA``).
"""

from __future__ import annotations

from typing import Any

from perpscope.core.format import MISSING

#: Significance level of every verdict.
ALPHA = 0.05
#: The walk-forward's baseline variant (no features): not a signal, not counted as one.
PRIOR = "class prior (no features)"


def _pct(x: float | None) -> str:
    return MISSING if x is None else f"{x * 100:.1f}%"


def _walk_forward(result: dict[str, Any]) -> str:
    rows = [v for v in result.get("variants") or [] if v.get("name") != PRIOR]
    if not rows:
        return ""
    n_trials = (result.get("trials") or {}).get("count", len(rows))
    scored = [v for v in rows if v.get("hit_rate_indep") is not None]
    best = max(scored, key=lambda v: v["hit_rate_indep"]) if scored else None
    beat = [v for v in rows if (v.get("pt_q") is not None and v["pt_q"] < ALPHA)]
    skill = [v for v in rows if (v.get("brier_skill") or 0) > 0]
    words = [f"Out of sample, {len(rows)} variant(s) were scored over {n_trials} logged trial(s)."]
    if best is not None:
        words.append(
            f"The best hit rate was {_pct(best['hit_rate_indep'])} ({best['name']}, {best['horizon']}; "
            f"{best['hits_indep']}/{best['n_indep']} non-overlapping periods, 95% interval "
            f"{_pct(best.get('hit_lo'))}–{_pct(best.get('hit_hi'))}) against a majority class of "
            f"{_pct(best.get('majority_rate_indep'))}."
        )
    if beat:
        names = ", ".join(f"{v['name']} ({v['horizon']}, q = {v['pt_q']:.3f})" for v in beat[:4])
        words.append(
            f"{len(beat)} variant(s) predicted direction better than chance once every trial is counted "
            f"(Pesaran–Timmermann, Benjamini–Hochberg q < {ALPHA}): {names}."
        )
    else:
        words.append(
            "None predicted direction better than chance once every trial is counted (no "
            f"Pesaran–Timmermann q-value below {ALPHA})."
        )
    words.append(
        f"{len(skill)} of {len(rows)} gave better probabilities than the class prior (Brier skill > 0)."
    )
    net = [s for s in result.get("snooping") or [] if s.get("returns") == "net"]
    if net:
        p = min(s["pvalue_spa"] for s in net if s.get("pvalue_spa") is not None)
        words.append(
            "After fees and funding, the best trading rule "
            + ("beat" if p < ALPHA else "did not beat")
            + f" staying flat beyond what searching {net[0].get('n_models', '?')} models would give by "
            f"luck (lowest SPA p = {p:.2f})."
        )
    dsr = result.get("deflated_sharpe") or {}
    if dsr.get("dsr") is not None:
        words.append(
            f"Deflated Sharpe ratio of the best: {dsr['dsr']:.2f} (the probability its Sharpe is real "
            "given the trials; 0.95 would be convincing)."
        )
    return " ".join(words)


def _events(result: dict[str, Any]) -> str:
    rows = result.get("events") or []
    if not rows:
        return ""
    signals = {r["signal"] for r in rows}
    hits = [r for r in rows if r.get("hit_qvalue") is not None and r["hit_qvalue"] < ALPHA]
    moved = [
        r
        for r in rows
        if r.get("ci_lo") is not None and r.get("ci_hi") is not None and (r["ci_lo"] > 0 or r["ci_hi"] < 0)
    ]
    words = [f"Event study: {len(signals)} signal(s) at {len({r['horizon'] for r in rows})} horizon(s)."]
    if hits:
        names = ", ".join(f"{r['signal']} ({r['horizon']}, q = {r['hit_qvalue']:.3f})" for r in hits[:4])
        words.append(f"{len(hits)} signal/horizon pair(s) had a hit rate unlike the base rate's: {names}.")
    else:
        words.append(
            f"No signal's hit rate differed from the base rate once every pair is counted (q < {ALPHA})."
        )
    words.append(
        f"{len(moved)} of {len(rows)} pair(s) had a mean forward return whose 95% interval excludes zero"
        + (" (uncorrected for the number of pairs)." if moved else ".")
    )
    return " ".join(words)


def _settlement(result: dict[str, Any]) -> str:
    rows = result.get("settlement") or []
    if not rows:
        return ""
    sig = [r for r in rows if r.get("q") is not None and r["q"] < ALPHA]
    metrics = sorted({r["metric"] for r in rows})
    text = (
        f"Around funding settlements, {len(sig)} of {len(rows)} (metric, minute) cells differed from control "
        f"windows after Benjamini–Hochberg (q < {ALPHA}); metrics: {', '.join(metrics)}."
    )
    if sig:
        text += (
            " Largest: "
            + ", ".join(
                f"{r['metric']} at {r['offset_min']:+d} min ({r['diff']:+.3g}, q = {r['q']:.3f})"
                for r in sorted(sig, key=lambda r: r["q"])[:3]
            )
            + "."
        )
    return text


def verdict(result: dict[str, Any]) -> str:
    """The study's verdict, one paragraph (empty when it scored nothing)."""
    return " ".join(p for p in (_walk_forward(result), _events(result), _settlement(result)) if p)
