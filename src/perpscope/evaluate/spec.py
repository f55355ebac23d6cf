"""The declarative study spec (TOML): what to test, on what, at which horizons, with which costs.

Example (``src/perpscope/evaluate/studies/*.toml`` are the built-in ones)::

    name = "funding_extremes"
    title = "What follows a funding extreme?"
    dataset = "btc_binance_4h"          # a built-in dataset, or "lake" (see below)
    horizons = ["8h", "1d", "7d"]

    [events]
    signals = [{ name = "funding extreme high", when = "funding_extreme == 1" }]
    label_column = "regime"             # optional: one event per label start

    [walkforward]
    train_min = "180d"
    test = "30d"
    variants = [{ name = "funding z", features = ["funding_z"] }]

    [costs]
    fee_bps = 5.0
    funding = true

``when`` is one or more comparisons ``column op number`` joined by ``&`` (``op``: ``== != >= <= > <``),
or a boolean column's name.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from perpscope.core.errors import InputError
from perpscope.core.time import interval_ms
from perpscope.evaluate.walkforward import Costs

_COND = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|>=|<=|>|<)\s*(-?[0-9.eE+-]+|true|false)\s*$")


@dataclass(frozen=True)
class Signal:
    """A named condition on panel columns."""

    name: str
    when: str

    def expr(self) -> pl.Expr:
        return condition(self.when)


@dataclass(frozen=True)
class Variant:
    """A named feature set for the walk-forward model."""

    name: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class StudySpec:
    """A parsed study spec (see the module docstring for the TOML form)."""

    name: str
    title: str
    dataset: str
    horizons_ms: tuple[int, ...]
    kind: str = "signals"
    question: str = ""
    signals: tuple[Signal, ...] = ()
    label_column: str | None = None
    variants: tuple[Variant, ...] = ()
    train_min_ms: int = 180 * 86_400_000
    test_ms: int = 30 * 86_400_000
    rolling_ms: int | None = None
    embargo_ms: int | None = None
    costs: Costs = field(default_factory=Costs)
    start: str | None = None
    end: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def condition(text: str) -> pl.Expr:
    """``"funding_z >= 2 & oi_usd_chg_1d > 0.05"`` → a polars boolean expression."""
    parts = [p for p in text.split("&")]
    out: pl.Expr | None = None
    for part in parts:
        m = _COND.match(part)
        if m is None:
            name = part.strip()
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise InputError(
                    "spec",
                    f"expected a condition like 'funding_z >= 2' or a boolean column name; found {part!r}",
                    hint="join several conditions with '&'",
                )
            e = pl.col(name).cast(pl.Boolean)
        else:
            col, op, val = m.groups()
            v: float | bool = val == "true" if val in ("true", "false") else float(val)
            c = pl.col(col)
            e = {
                "==": c == v,
                "!=": c != v,
                ">=": c >= v,
                "<=": c <= v,
                ">": c > v,
                "<": c < v,
            }[op]
        out = e if out is None else out & e
    assert out is not None
    return out


def _dur(d: dict[str, Any], key: str, default: int | None, path: str) -> int | None:
    v = d.get(key)
    if v in (None, ""):
        return default
    try:
        return interval_ms(str(v))
    except ValueError as e:
        raise InputError(path, f"[{key}]: {e}") from None


def parse_spec(data: dict[str, Any], path: str = "spec") -> StudySpec:
    """A spec from parsed TOML; errors name the key, what was expected and what was found."""
    for key in ("name", "dataset", "horizons"):
        if key not in data:
            raise InputError(path, f"missing key {key!r}", hint="see docs/evaluate.md for a full example")
    try:
        horizons = tuple(interval_ms(str(h)) for h in data["horizons"])
    except ValueError as e:
        raise InputError(path, f"horizons: {e}") from None
    ev = data.get("events", {})
    wf = data.get("walkforward", {})
    co = data.get("costs", {})
    sigs = tuple(Signal(str(s["name"]), str(s["when"])) for s in ev.get("signals", []))
    for s in sigs:
        s.expr()  # validate now, not after loading the data
    variants = tuple(Variant(str(v["name"]), tuple(v.get("features", []))) for v in wf.get("variants", []))
    return StudySpec(
        name=str(data["name"]),
        title=str(data.get("title", data["name"])),
        dataset=str(data["dataset"]),
        horizons_ms=horizons,
        kind=str(data.get("kind", "signals")),
        question=str(data.get("question", "")),
        signals=sigs,
        label_column=ev.get("label_column"),
        variants=variants,
        train_min_ms=_dur(wf, "train_min", 180 * 86_400_000, path) or 0,
        test_ms=_dur(wf, "test", 30 * 86_400_000, path) or 0,
        rolling_ms=_dur(wf, "rolling", None, path),
        embargo_ms=_dur(wf, "embargo", None, path),
        costs=Costs(fee_bps=float(co.get("fee_bps", 5.0)), funding=bool(co.get("funding", True))),
        start=data.get("start"),
        end=data.get("end"),
        dataset_options=dict(data.get("dataset_options", {})),
        notes=tuple(data.get("notes", [])),
    )


def load_spec(path: Path) -> StudySpec:
    """Read and parse a TOML spec file."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise InputError(str(path), f"expected a readable TOML study spec: {e}") from None
    return parse_spec(data, str(path))


def builtin_studies() -> dict[str, Path]:
    """Built-in study specs shipped with the package: name → path."""
    folder = Path(__file__).parent / "studies"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}
