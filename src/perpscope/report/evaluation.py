"""Report of an evaluation study (``perpscope.evaluate.run_study`` / settlement results): Markdown, and a
self-contained HTML page with the same text and tables plus the charts of
:mod:`perpscope.report.evaluation_charts`."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from perpscope.core.format import MISSING, pct_text
from perpscope.evaluate.verdict import verdict


def _d(ms: int | None) -> str:
    return MISSING if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _p(x: float | None, digits: int = 2) -> str:
    return pct_text(x, digits)


def _share(x: float | None) -> str:
    return MISSING if x is None else f"{x * 100:.1f}%"


def _n(x: float | None, digits: int = 3) -> str:
    return MISSING if x is None else f"{x:.{digits}f}"


def _dm(x: list[float | None] | None) -> str:
    """A Diebold–Mariano result as ``stat (p)``; negative: the variant's loss is lower."""
    if not x or x[0] is None:
        return MISSING
    return f"{x[0]:+.1f} ({_n(x[1], 2)})"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _charts(charts: Mapping[str, str] | None, *keys: str) -> list[str]:
    """Image lines for the charts ``keys`` that ``charts`` (id → image path) holds."""
    from perpscope.report.evaluation_charts import CAPTIONS

    out = [f"![{CAPTIONS[k]}]({charts[k]})\n" for k in keys if charts and k in charts]
    return out


def render_markdown(
    result: dict[str, Any], data_notes: list[str] | None = None, charts: Mapping[str, str] | None = None
) -> str:
    """The study's Markdown report: question, data, method, events, walk-forward, trials, corrections.

    ``charts`` maps chart ids (:data:`perpscope.report.evaluation_charts.CAPTIONS`) to image paths,
    linked under their section's heading text, before its table.
    """
    spec = result["spec"]
    data = result["data"]
    lines = [f"# {spec['title']}", ""]
    if spec.get("question"):
        lines += ["**Question.** " + " ".join(spec["question"].split()), ""]
    said = verdict(result)
    if said:
        lines += ["**Verdict.** " + said, ""]
    lines += [
        "## Data",
        "",
        f"- Bars: {data['bar']}, {data['rows']:,} rows, {_d(data['first_ms'])} → {_d(data['last_ms'])} UTC; "
        f"series: {', '.join('/'.join(s) for s in data['series'])}.",
    ]
    lines += [f"- {n}" for n in (data_notes or [])]
    if data.get("horizons_skipped"):
        lines.append(
            f"- Horizons skipped (not a multiple of the bar): {', '.join(data['horizons_skipped'])}."
        )
    if data.get("label_column_missing"):
        lines.append(
            f"- Label column `{data['label_column_missing']}` is not in the panel: no label event study "
            "(pass labels, e.g. from `perpscope.regimes.classify`)."
        )
    for name, cols in (data.get("signals_missing_columns") or {}).items():
        lines.append(f"- Signal `{name}` skipped: the panel has no column {', '.join(cols)}.")
    lines.append("")
    if result.get("events"):
        lines += _events(result["events"], charts)
    if result.get("variants"):
        lines += _variants(result, charts)
    if result.get("settlement"):
        lines += _settlement(result["settlement"], charts)
    return "\n".join(lines) + "\n"


def _section(title: str, text: str, charts: Mapping[str, str] | None, *keys: str) -> list[str]:
    """A section's heading, its method text and the links to its charts (``keys``), before its table."""
    return [f"## {title}", "", text, "", *_charts(charts, *keys)]


def _events(events: list[dict[str, Any]], charts: Mapping[str, str] | None) -> list[str]:
    lines = _section(
        "Event study",
        "Entry at the open of the bar after the signal's bar; triggers within one horizon of the previous "
        "kept one are merged (n events = independent events). Mean with a 95% t interval over events; hit "
        "rate (return > 0) with its 95% Clopper–Pearson interval and the two-sided exact binomial p-value "
        "against the base rate (every bar where the signal is defined, same window), and its "
        "Benjamini–Hochberg q-value over all rows of this table (every signal × horizon tried). "
        "Vol = √Σ squared bar "
        "log returns over the horizon; DD = worst low against the entry.",
        charts,
        "events",
    )
    rows = []
    for e in events:
        rows.append(
            [
                e["signal"],
                e["horizon"],
                str(e["n_triggers"]),
                str(e["n_events"]),
                f"{_p(e['mean_ret'])} [{_p(e['ci_lo'])}, {_p(e['ci_hi'])}]",
                _p(e["base_mean_ret"]),
                f"{_share(e['hit_rate'])} [{_share(e['hit_lo'])}, {_share(e['hit_hi'])}]",
                _share(e["base_hit_rate"]),
                f"{_n(e['hit_pvalue'], 3)} / {_n(e['hit_qvalue'], 3)}",
                f"{_share(e['mean_vol'])} / {_share(e['base_mean_vol'])}",
                f"{_p(e['mean_dd'])} / {_p(e['base_mean_dd'])}",
            ]
        )
    head = ["signal", "h", "triggers", "events", "mean ret [95% CI]", "base ret", "hit [95% CP]", "base hit"]
    lines += _table([*head, "p / q (BH)", "vol sig/base", "DD sig/base"], rows)
    return [*lines, ""]


def _variants(result: dict[str, Any], charts: Mapping[str, str] | None) -> list[str]:
    lines = _section(
        "Walk-forward", _walk_forward_method(result["spec"]), charts, "hit_rate", "brier_skill", "pnl"
    )
    head = ["variant", "h", "out of sample", "n", "up share", "hit", "hit indep [95% CP]", "majority"]
    head += [
        "p vs maj",
        "bal acc",
        "MCC",
        "Brier skill",
        "LL skill",
        "PT p / q (BH)",
        "DM vs long · trail · persist",
    ]
    lines += _table([*head, "Sharpe gross", "Sharpe net"], [_variant_row(v) for v in result["variants"]])
    return [*lines, "", *_trials(result), ""]


def _walk_forward_method(spec: dict[str, Any]) -> str:
    """The walk-forward section's method text, with the spec's windows, embargo and costs."""
    emb = spec.get("embargo_ms")
    return (
        f"Logistic regression on standardized features, refit every {spec['test_ms'] // 86_400_000} days "
        f"after {spec['train_min_ms'] // 86_400_000} days of history, "
        + (
            f"rolling {spec['rolling_ms'] // 86_400_000}-day window"
            if spec.get("rolling_ms")
            else "expanding window"
        )
        + "; training labels that end within "
        + (f"{emb // 3_600_000}h" if emb else "one horizon")
        + " of the test window are purged (embargo). Every variant is scored on the same rows (bars where "
        "all features are known). Hit rate and Brier/log-loss skill (against the training class prior) use "
        "every row; the exact interval, the binomial test against the majority class of the test window, "
        "Pesaran–Timmermann (with its Benjamini–Hochberg q-value over every trial) and the trading rule use "
        "non-overlapping periods only (n indep). "
        f"Trading rule: long if P(up) > 0.5 else short, {spec['costs']['fee_bps']} bps per side"
        + (", funding charged at the last known rate" if spec["costs"]["funding"] else "")
        + ". DM = Diebold–Mariano (HLN) statistic (p-value) on the 0-1 loss against always-long, "
        "the trailing "
        "return's sign and the last bar's sign; negative = the variant errs less."
    )


def _variant_row(v: dict[str, Any]) -> list[str]:
    """One walk-forward trial as a row of the variants table."""
    dm = v.get("dm", {})
    return [
        v["name"],
        v["horizon"],
        f"{_d(v['oos_start_ms'])[:10]} → {_d(v['oos_end_ms'])[:10]}",
        str(v["n"]),
        _share(v["base_rate"]),
        _share(v["hit_rate"]),
        f"{v['hits_indep']}/{v['n_indep']} = {_share(v['hit_rate_indep'])} "
        f"[{_share(v['hit_lo'])}, {_share(v['hit_hi'])}]",
        _share(v["majority_rate_indep"]),
        _n(v["binom_p_vs_majority"]),
        _n(v["balanced_accuracy"]),
        _n(v["mcc"]),
        _n(v["brier_skill"], 4),
        _n(v["log_loss_skill"], 4),
        f"{_n(v['pt_p'])} / {_n(v.get('pt_q'))}",
        " · ".join(_dm(dm.get(b)) for b in ("always_long", "trailing", "persistence")),
        _n(v["gross_sharpe_ann"], 2),
        _n(v["sharpe_ann"], 2),
    ]


def _trials(result: dict[str, Any]) -> list[str]:
    """The trials section: how many were logged, the snooping tests per horizon, the deflated Sharpe."""
    lines = ["## Trials and multiple testing", ""]
    lines.append(
        "- Trials logged (variants × horizons × series, the prior included): "
        f"**{result['trials']['count']}**."
    )
    for s in result.get("snooping", []):
        lines.append(
            f"- {s['horizon']}, {s.get('returns', 'net')} returns: best mean `{s['best'].split('|')[0]}`; "
            "White's reality check "
            f"p = {_n(s['pvalue_rc'])}, Hansen's SPA p = {_n(s['pvalue_spa'])} over {s['n_models']} variants "
            f"and {s['n_obs']} non-overlapping periods (benchmark: {s['benchmark']})."
        )
    d = result.get("deflated_sharpe")
    if d:
        lines.append(
            f"- Deflated Sharpe ratio of the best trial (`{d['best'].split('|')[0]}`, "
            f"{d['best'].split('|')[1]}): per-period Sharpe {_n(d['sharpe_per_period'])} against an expected "
            f"maximum of {_n(d['expected_max_sharpe'])} for {d['n_trials']} unskilled trials → DSR "
            f"{_n(d['dsr'])} (probability that its true Sharpe beats that maximum)."
        )
    return lines


def _settlement(rows: list[dict[str, Any]], charts: Mapping[str, str] | None) -> list[str]:
    lines = _section(
        "Around settlements vs other full hours",
        "Per bar offset from the hour (minutes; bar at −5 is the last before the hour): "
        "settlement-hour mean, "
        "control-hour mean, difference with a 95% Welch interval and p-value. `volume`, `trades` and "
        "`abs_ret` are relative to the mean of the same hour's bars 60–30 minutes before it; "
        "`taker_buy_share` is the taker-buy share of volume. q = Benjamini–Hochberg q-value over "
        "every row of the table (all metrics × offsets tested).",
        charts,
        "settlement",
    )
    body = []
    for r in rows:
        body.append(
            [
                r["metric"],
                f"{r['offset_min']:+d}",
                _n(r["settle_mean"]),
                _n(r["control_mean"]),
                f"{_n(r['diff'])} [{_n(r['ci_lo'])}, {_n(r['ci_hi'])}]",
                f"{_n(r['p'], 4)} / {_n(r.get('q'), 3)}",
                f"{r['n_settle']}/{r['n_control']}",
            ]
        )
    lines += _table(
        ["metric", "offset", "settle", "control", "diff [95% CI]", "p / q (BH)", "n settle/control"], body
    )
    return [*lines, ""]


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1400px;
color:#1d2330;background:#fafbfc;padding:0 16px;line-height:1.45}
h1{font-size:22px} h2{font-size:18px;margin-top:32px}
table{border-collapse:collapse;font-size:12px;background:#fff;display:block;overflow-x:auto}
th,td{padding:4px 8px;border-bottom:1px solid #e3e6ea;white-space:nowrap;text-align:right}
th{background:#f0f2f5} td:first-child,th:first-child{text-align:left}
.chart{background:#fff;margin:12px 0;border:1px solid #e3e6ea;overflow-x:auto}
.chart>div{min-width:900px}
code{background:#eef0f3;padding:0 3px}
"""


def render_html(
    result: dict[str, Any], data_notes: list[str] | None = None, figures: Mapping[str, Any] | None = None
) -> str:
    """One self-contained page (plotly.js inline, opens offline): the Markdown report's text and tables,
    with ``figures`` (chart id → plotly figure, :func:`~perpscope.report.evaluation_charts.study_figures`)
    drawn where the Markdown links its PNGs."""
    from markdown_it import MarkdownIt
    from plotly.offline import get_plotlyjs

    figures = dict(figures or {})
    md = render_markdown(result, data_notes, {k: f"#chart-{k}" for k in figures})
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)

    def chart(m: re.Match[str]) -> str:
        key = m.group(1)
        div = figures[key].to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{key}")
        return f'<div class="chart">{div}</div>'

    body = re.sub(r'<p><img src="#chart-([a-z_]+)" alt="[^"]*" */?></p>', chart, body)
    title = html.escape(result["spec"].get("title") or result["spec"]["name"])
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head>\n<body>\n{body}</body></html>\n"
    )
