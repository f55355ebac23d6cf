"""Provenance of a panel: per measure, the stored series, sources and bar lengths that fed it, what the
scope's cover was over time, and where it is missing, gappy or stale in the range asked for.

Every front end states it (CLI footnotes and ``--format json``, API responses, dashboard notes, report),
so a reader never takes a straight line through a gap, or a 14-day-old funding rate, for data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from perpscope.assemble.view import MarketView, Part, view_headline
from perpscope.core.time import ms_to_iso

#: Measures and the panel column that says whether a bar has them (first present column wins).
MEASURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "price": ("close",),
    "open_interest": ("oi_usd", "oi_base"),
    "funding": ("funding_rate_8h", "funding_sampled_8h"),
    "liquidations": ("liq_usd",),
    "taker_flow": ("taker_buy_usd",),
    "spot": ("spot_close",),
    "long_short_ratios": ("ls_top_positions", "ls_global_accounts", "ls_top_accounts"),
}

#: Parts (``Part.measure``) reported under each measure.
_PART_MEASURES: dict[str, tuple[str, ...]] = {
    "price": ("price", "mark", "index", "premium"),
    "taker_flow": ("perp_taker",),
    "spot": ("spot", "spot_taker"),
}

#: Gaps shorter than this many bars are not listed (a missing bar or two is noise, not a hole).
MIN_GAP_BARS = 2


def _day(t: int) -> str:
    return ms_to_iso(t)[:16].replace("T", " ")


@dataclass(frozen=True)
class MeasureProvenance:
    """Where one measure of a panel came from and how complete it is over the range.

    Attributes
    ----------
    measure : str
        One of :data:`MEASURE_COLUMNS`.
    parts : list of Part
        Stored series that fed it.
    covers : list of (int, int, str)
        Runs of the scope's cover: first and last bar open (ms) and the series added there.
    first_ms, last_ms : int or None
        First and last bar (open, ms) with a value in the range.
    gaps : list of (int, int)
        Runs of at least :data:`MIN_GAP_BARS` bars without a value between them (first and last open).
    stale : bool
        The measure ends before the range's last bar.
    """

    measure: str
    parts: list[Part] = field(default_factory=list)
    covers: list[tuple[int, int, str]] = field(default_factory=list)
    first_ms: int | None = None
    last_ms: int | None = None
    gaps: list[tuple[int, int]] = field(default_factory=list)
    stale: bool = False
    bars: int = 0
    bars_with_value: int = 0

    @property
    def missing(self) -> bool:
        return self.bars_with_value == 0

    def flags(self) -> list[str]:
        """Short warnings: missing, gaps, stale."""
        if self.missing:
            return ["missing"]
        out = []
        if self.gaps:
            out.append(f"{len(self.gaps)} gap(s)")
        if self.stale and self.last_ms is not None:
            out.append(f"ends {_day(self.last_ms)}")
        return out

    def line(self) -> str:
        """One sentence: the measure, its sources and bar lengths, its cover and its flags."""
        if self.missing:
            seen = (
                f" (stored: {'; '.join(p.describe() for p in self.parts)}, none in range)"
                if self.parts
                else ""
            )
            return f"{self.measure}: missing{seen}"
        src = "; ".join(p.describe() for p in self.parts[:4]) + (" …" if len(self.parts) > 4 else "")
        cov = ""
        if len({c for _, _, c in self.covers}) > 1:
            runs = [f"{_day(a)[:10]}→{_day(b)[:10]} {c or 'nothing'}" for a, b, c in self.covers[:4]]
            cov = " | cover: " + "; ".join(runs) + (" …" if len(self.covers) > 4 else "")
        flags = self.flags()
        gaps = ""
        if self.gaps:
            g = [f"{_day(a)}→{_day(b)}" for a, b in self.gaps[:3]]
            gaps = " | gaps: " + ", ".join(g) + (" …" if len(self.gaps) > 3 else "")
        tail = f" [{', '.join(flags)}]" if flags else ""
        return f"{self.measure}: {src}{cov}{gaps}{tail}"

    def to_json(self) -> dict[str, object]:
        return {
            "measure": self.measure,
            "sources": [p.to_json() for p in self.parts],
            "cover": [{"first_ms": a, "last_ms": b, "series": c} for a, b, c in self.covers[:50]],
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "bars": self.bars,
            "bars_with_value": self.bars_with_value,
            "gaps": [{"first_ms": a, "last_ms": b} for a, b in self.gaps[:50]],
            "missing": self.missing,
            "stale": self.stale,
        }


def _runs(covers: pl.DataFrame) -> list[tuple[int, int, str]]:
    """Runs of equal ``cover`` in a ``ts_ms, cover`` frame: (first bar, last bar, cover).

    A run starts where the cover differs from the bar before; its end is the bar before the next start
    (positions, not a group-by: a year of 5-minute bars holds a handful of runs)."""
    if covers.is_empty():
        return []
    cov = covers.get_column("cover")
    idx = (cov != cov.shift(1)).fill_null(True).arg_true().to_numpy()
    ts = covers.get_column("ts_ms").dt.epoch("ms").to_numpy()
    ends = np.append(idx[1:] - 1, ts.size - 1)
    labels = cov.gather(idx).to_list()
    return [(int(ts[a]), int(ts[b]), str(lab)) for a, b, lab in zip(idx, ends, labels, strict=True)]


def measure_provenance(
    panel: pl.DataFrame, view: MarketView, start_ms: int, end_ms: int
) -> list[MeasureProvenance]:
    """Per measure of :data:`MEASURE_COLUMNS`, its provenance over ``[start_ms, end_ms)`` of ``panel``."""
    ts_all = panel.get_column("ts_ms").dt.epoch("ms").to_numpy() if panel.height else np.array([], np.int64)
    in_range = (ts_all >= start_ms) & (ts_all < end_ms)
    ts = ts_all[in_range]
    out = []
    for measure, cols in MEASURE_COLUMNS.items():
        parts = [p for p in view.parts if p.measure in _PART_MEASURES.get(measure, (measure,))]
        col = next((c for c in cols if c in panel.columns and panel.get_column(c).is_not_null().any()), None)
        if col is None:
            if parts:
                out.append(MeasureProvenance(measure, parts, bars=int(ts.size)))
            continue
        has = panel.get_column(col).is_not_null().to_numpy()[in_range]
        covers: list[tuple[int, int, str]] = []
        key = {"open_interest": "open_interest", "liquidations": "liquidations", "funding": "funding"}.get(
            measure
        )
        if key and key in view.covers:
            c = view.covers[key].filter(pl.col("ts_ms").dt.epoch("ms").is_between(start_ms, end_ms - 1))
            covers = _runs(c.select("ts_ms", "cover"))
        if not has.any():
            out.append(MeasureProvenance(measure, parts, covers, bars=int(ts.size)))
            continue
        idx = np.flatnonzero(has)
        first, last = int(ts[idx[0]]), int(ts[idx[-1]])
        gaps: list[tuple[int, int]] = []
        inner = ~has[idx[0] : idx[-1] + 1]
        if inner.any():
            t_in = ts[idx[0] : idx[-1] + 1]
            edges = np.diff(np.concatenate([[0], inner.astype(np.int8), [0]]))
            for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
                if b - a >= MIN_GAP_BARS:
                    gaps.append((int(t_in[a]), int(t_in[b - 1])))
        out.append(
            MeasureProvenance(
                measure,
                parts,
                covers,
                first,
                last,
                gaps,
                stale=bool(idx[-1] < ts.size - 1),
                bars=int(ts.size),
                bars_with_value=int(has.sum()),
            )
        )
    return out


def footnotes(view: MarketView, prov: list[MeasureProvenance]) -> list[str]:
    """Lines for a table's footnote: the scope and bar length, each measure's line, then the notes."""
    return [view_headline(view), *[m.line() for m in prov], *dict.fromkeys(view.notes)]
