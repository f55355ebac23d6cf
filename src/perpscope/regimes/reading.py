"""The current reading of each series: its regime at the last bar with the evidence, how long it has
held, the flow hierarchy, the treadmill and the circuit breakers — what demo, dashboard and alerts show.
"""

from __future__ import annotations

import polars as pl

from perpscope.metrics.frames import KEYS
from perpscope.regimes.classify import classify, episodes
from perpscope.regimes.config import RegimeConfig
from perpscope.regimes.flow import FlowInputs, flow_hierarchy
from perpscope.regimes.grid import SID, numbered, prepare
from perpscope.regimes.treadmill import circuit_breakers, treadmill


def reading(
    panel: pl.DataFrame,
    config: RegimeConfig | None = None,
    *,
    flows: FlowInputs | None = None,
    labels: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The latest bar of each series, read.

    Parameters
    ----------
    panel : polars.DataFrame
        A metrics panel (:func:`perpscope.metrics.build_panel`).
    config : RegimeConfig, optional
        Thresholds (defaults documented on :class:`RegimeConfig`).
    flows : FlowInputs, optional
        The spot and institutional side; when given, the flow hierarchy and the spot-led breaker read it
        and ``flow_evidence`` says what it showed at the last bar's end (and which inputs were missing).
    labels : polars.DataFrame, optional
        ``classify(panel, config)`` (with evidence) when the caller already has it: skips classifying
        the panel again.

    Returns
    -------
    polars.DataFrame
        One row per series: ``venue, canonical, ts_ms`` (the last bar), ``regime, evidence`` and the
        numeric evidence of :func:`~perpscope.regimes.classify.classify`, ``since_ms`` and ``bars`` (the
        current episode), ``leader, spot_perp_ratio_w, structural_imbalance`` (flow hierarchy),
        ``treadmill_cycles`` (cycles in the latest treadmill chain, 0 if none) and
        ``treadmill_evidence``, ``breakers_engaged`` (names of the engaged circuit breakers, comma
        separated, empty if none) and ``breakers_evidence`` (every check's evidence, one per line);
        with ``flows``, ``flow_evidence`` (:meth:`FlowEvidence.text
        <perpscope.metrics.flow_evidence.FlowEvidence.text>` public at the last bar's end).
    """
    cfg = config or RegimeConfig()
    df, step = prepare(panel, "reading")
    if labels is None:
        labels = classify(df, cfg)
    else:
        labels = numbered(labels).drop(SID)  # in the panel's order, as classify(df) returns them
        if labels.height != df.height:
            raise ValueError(
                f"reading: labels has {labels.height} rows, the panel {df.height}; pass classify(panel) "
                "of this panel, or no labels"
            )
    last = labels.group_by(list(KEYS), maintain_order=True).last()
    ep = episodes(labels).group_by(list(KEYS), maintain_order=True).last()
    out = last.join(ep.select(*KEYS, pl.col("start_ms").alias("since_ms"), "bars"), on=list(KEYS), how="left")
    flow = flow_hierarchy(df, cfg, flows=flows).group_by(list(KEYS), maintain_order=True).last()
    out = out.join(
        flow.select(*KEYS, "leader", "spot_perp_ratio_w", "structural_imbalance"), on=list(KEYS), how="left"
    )
    tm = treadmill(labels, cfg)
    if tm.height:
        latest = tm.sort("next_flush_start_ms").group_by(list(KEYS)).last()
        out = out.join(
            latest.select(
                *KEYS,
                pl.col("cycles").alias("treadmill_cycles"),
                pl.col("evidence").alias("treadmill_evidence"),
            ),
            on=list(KEYS),
            how="left",
        )
    else:
        out = out.with_columns(
            pl.lit(None, pl.Int64).alias("treadmill_cycles"),
            pl.lit(None, pl.Utf8).alias("treadmill_evidence"),
        )
    br = (
        circuit_breakers(df, cfg, labels=labels, flows=flows)
        .group_by(list(KEYS), maintain_order=True)
        .agg(
            pl.col("check")
            .filter(pl.col("engaged").fill_null(False))
            .str.join(", ")
            .alias("breakers_engaged"),
            pl.concat_str([pl.col("check"), pl.lit(": "), pl.col("evidence")])
            .str.join("\n")
            .alias("breakers_evidence"),
        )
    )
    out = out.join(br, on=list(KEYS), how="left").with_columns(pl.col("treadmill_cycles").fill_null(0))
    if flows is not None:
        bar = step or cfg.window_ms
        ends = out.get_column("ts_ms").dt.epoch("ms").to_list()
        text = [flows.at(int(t) + bar).text() for t in ends]
        out = out.with_columns(pl.Series("flow_evidence", text, dtype=pl.Utf8))
    flags = [c for c in out.columns if c.startswith("is_")]
    return out.drop(flags)
