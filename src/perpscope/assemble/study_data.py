"""Which data a built-in study runs on: the team's shared files it was written for, or the user's store.

A built-in study names a shared dataset (``btc_binance_4h`` …, the files under ``shared/data``), which a
user who installed perpscope does not have. On the user's store the same study runs on the ``lake``
dataset for the same symbol and bar length (:data:`ON_STORE`). What its signals, walk-forward features
and labels are computed from (:func:`needed_measures`) is set against what the store gave for the
series (:attr:`perpscope.assemble.datasets.LakeDataset.missing`): a study the store cannot feed at all
stops and names the records it needs beside what the store holds for the symbol; one it can partly
feed runs without the signals and variants it cannot compute (:func:`feedable`), and its notes say
which were left out and which records would bring them back.
"""

from __future__ import annotations

from dataclasses import replace

from perpscope.assemble.datasets import input_of
from perpscope.evaluate.spec import StudySpec, condition

#: Shared dataset → the ``lake`` dataset options that ask the user's store for the same series.
ON_STORE: dict[str, dict[str, str]] = {
    "btc_binance_4h": {"symbol": "BTC-USDT-PERP", "every": "4h"},
    "btc_binance_4h_flows": {"symbol": "BTC-USDT-PERP", "every": "4h", "flows": "true"},
    "btc_binance_1h": {"symbol": "BTC-USDT-PERP", "every": "1h"},
    "btc_binance_5m": {"symbol": "BTC-USDT-PERP", "every": "5m"},
}

#: The store records (``perpscope import`` / ``collect``) each measure of the panel is read from.
RECORDS_OF: dict[str, str] = {
    "price": "candles (perp trade klines)",
    "funding": "funding (settlements)",
    "open_interest": "open_interest",
    "liquidations": "liquidations (events) or liquidation_totals (per bar)",
    "taker_flow": "candles with taker buy volume, or taker_volume",
    "spot": "spot candles of the same pair",
    "long_short_ratios": "long_short_ratios",
    "etf_flows": "fund_flows (US spot ETF daily flows)",
    "stablecoin_supply": "stablecoin_supply",
    "cme_positioning": "futures_positioning (CFTC TFF)",
}

#: What the regime labels (``label_column = "regime"``) are classified from (docs/regimes.md).
REGIME_INPUTS = ("price", "open_interest", "funding")
#: Columns a study adds from the regime classifier (``perpscope.assemble.study_run.regime_labels``).
LABEL_COLUMNS = frozenset({"regime", "treadmill_cycle"})


def on_store(spec: StudySpec, venue: str | None = None) -> StudySpec:
    """``spec`` read from the user's store: the ``lake`` dataset for its shared dataset's symbol and bar
    length (a spec already on ``lake`` is returned as it is; ``venue``: a venue scope, default each
    stored venue apart).

    Raises
    ------
    ValueError
        For a shared dataset with no store equivalent in :data:`ON_STORE`.
    """
    if spec.dataset == "lake":
        return spec
    if spec.dataset not in ON_STORE:
        raise ValueError(f"the study's dataset {spec.dataset!r} has no equivalent on a store")
    opts: dict[str, str] = {**ON_STORE[spec.dataset], **{k: str(v) for k, v in spec.dataset_options.items()}}
    if venue:
        opts["venue"] = venue
    opts.pop("window", None), opts.pop("settlement_hours", None)  # the settlement study's, not the view's
    keep = {k: v for k, v in spec.dataset_options.items() if k in ("window", "settlement_hours")}
    return replace(spec, dataset="lake", dataset_options={**opts, **keep})


def needs(spec: StudySpec) -> dict[str, list[str]]:
    """Measure → what of ``spec`` needs it (signal names, ``feature X``, ``regime labels``); price is
    always needed (the outcomes are price returns)."""
    out: dict[str, list[str]] = {"price": ["the outcomes (forward returns)"]}
    for s in spec.signals:
        for col in condition(s.when).meta.root_names():
            # a label column (the regime, a completed treadmill cycle) is classified from the regime inputs
            for m in REGIME_INPUTS if col in LABEL_COLUMNS else (input_of(col),):
                out.setdefault(m, []).append(f"signal {s.name!r}")
    for v in spec.variants:
        for f in v.features:
            out.setdefault(input_of(f), []).append(f"feature {f} ({v.name})")
    if spec.label_column == "regime":
        for m in REGIME_INPUTS:
            out.setdefault(m, []).append("the regime labels")
    return {m: list(dict.fromkeys(w)) for m, w in out.items()}


def needed_measures(spec: StudySpec) -> list[str]:
    """The measures ``spec`` reads, price first."""
    return list(needs(spec))


def unmet(spec: StudySpec, missing: dict[str, list[str]]) -> dict[str, list[str]]:
    """Measure → the parts of ``spec`` that need it, for each measure the store gave no value of in any
    series read (``missing``: series → measures it lacks)."""
    if not missing:
        return {}
    lacking_everywhere = set.intersection(*(set(ms) for ms in missing.values()))
    return {m: w for m, w in needs(spec).items() if m in lacking_everywhere}


def can_run(spec: StudySpec, gaps: dict[str, list[str]]) -> bool:
    """Whether anything of ``spec`` can be computed with the measures in ``gaps`` absent: the price is
    there, and at least one signal or variant (or the settlement windows) needs none of them."""
    if "price" in gaps:
        return False
    if spec.kind == "settlement":
        return True
    blocked = {w for ws in gaps.values() for w in ws}
    signals = [s for s in spec.signals if f"signal {s.name!r}" not in blocked]
    variants = [v for v in spec.variants if not any(f"feature {f} ({v.name})" in blocked for f in v.features)]
    return bool(signals or variants)


def feedable(spec: StudySpec, gaps: dict[str, list[str]]) -> StudySpec:
    """``spec`` without the signals and walk-forward variants that need a measure in ``gaps`` (they
    would be all nulls on this store); :func:`needs_lines` says what was left out and why."""
    blocked = {w for ws in gaps.values() for w in ws}
    return replace(
        spec,
        signals=tuple(s for s in spec.signals if f"signal {s.name!r}" not in blocked),
        variants=tuple(
            v for v in spec.variants if not any(f"feature {f} ({v.name})" in blocked for f in v.features)
        ),
    )


def needs_lines(gaps: dict[str, list[str]]) -> list[str]:
    """One sentence per missing measure: the records that give it and what of the study waits on it."""
    return [
        f"needs {m} — store records: {RECORDS_OF.get(m, m)} — for "
        + ", ".join(w[:4])
        + (f" and {len(w) - 4} more" if len(w) > 4 else "")
        for m, w in gaps.items()
    ]
