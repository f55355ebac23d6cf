"""Every check's numpy screen (:attr:`Rule.screen`, what :class:`AdmitPlan` runs on the live collector's
frames instead of a polars query) fires whenever the check's polars expression refuses a row — on
values at and around each bound (NaN, infinities, zero, negative zero, the price cap, nulls) and on text
that cannot name a folder (a trailing newline included). A screen may fire on a clean frame (the exact
path then admits it whole); it may never miss a bad one."""

from __future__ import annotations

from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.records import RECORDS
from perpscope.records.validate import MAX_PRICE, Rule, _distinct, rules_for

NOW_MS = 1_766_900_000_000
NUMBERS = [
    float("nan"),
    float("inf"),
    float("-inf"),
    -1.0,
    -0.5,
    -5e-324,
    -0.0,
    0.0,
    5e-324,
    0.5,
    1.0,
    1.5,
    87_123.4,
    MAX_PRICE,
    MAX_PRICE * (1 - 1e-16),
    1e300,
    None,
]
INTEGERS = [None, -(2**63), -1, 0, 1, 60_000, 2**53 + 1, 2**63 - 1]
TEXT = ["binance", "BTC-USDT-PERP", "a.b_c+d-1", "", "BTC/USDT", "bin ance", "BTC\n", "é", None]
SCREENED = [
    (name, rule) for name, rt in RECORDS.items() for rule in rules_for(rt, NOW_MS) if rule.screen is not None
]


def _frame(rule: Rule, rt_name: str, data: st.DataObject) -> pl.DataFrame:
    schema = RECORDS[rt_name].polars_schema
    n = data.draw(st.integers(1, 6))
    cols: dict[str, pl.Series] = {}
    for c in rule.bad.meta.root_names():
        pool = TEXT if schema[c] == pl.String else NUMBERS if schema[c] == pl.Float64 else INTEGERS
        values: list[Any] = data.draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
        cols[c] = pl.Series(c, values, dtype=schema[c])
    return pl.DataFrame(cols)


def test_the_live_records_checks_all_have_screens() -> None:
    for name in ("trades", "liquidations"):
        window = {f"{f.name}_window" for f in RECORDS[name].fields}
        assert all(r.screen is not None for r in rules_for(RECORDS[name], NOW_MS) if r.name not in window)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_screen_fires_whenever_its_rule_refuses_a_row(data: st.DataObject) -> None:
    rt_name, rule = data.draw(st.sampled_from(SCREENED))
    df = _frame(rule, rt_name, data)
    refused = bool(df.select(rule.bad.fill_null(False).any()).item())
    view = {
        c: _distinct(s) if s.dtype == pl.String else s.cast(pl.Float64).to_numpy()
        for c, s in zip(df.columns, df.get_columns(), strict=True)
    }
    assert rule.screen is not None
    if refused:
        assert rule.screen(view), (rule.name, df)
