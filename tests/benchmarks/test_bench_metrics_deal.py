"""``benchmarks/bench_metrics``: how the symbols are dealt to the worker processes (every symbol once,
the last round shared out), and that a symbol's panel and regime tables do not depend on the symbols it
is computed with (so the shares of a split chunk give what the whole chunk gives)."""

from __future__ import annotations

import polars as pl
import pytest
from benchmarks.bench_metrics import EVERY, deal, regimes_of, share_records, synthetic_records
from polars.testing import assert_frame_equal

from perpscope.metrics import PanelConfig, build_panel
from perpscope.regimes import circuit_breakers, classify, episodes, flow_hierarchy, treadmill


@pytest.mark.parametrize(
    ("n", "chunk", "workers"),
    [(300, 4, 2), (20, 4, 2), (18, 4, 2), (16, 4, 2), (3, 4, 2), (20, 4, 3), (9, 2, 4)],
)
def test_every_symbol_is_computed_once_and_rounds_are_even(n: int, chunk: int, workers: int) -> None:
    symbols = [f"S{i:04d}" for i in range(n)]
    dealt = deal(symbols, chunk, workers)
    assert len(dealt) == workers
    assert len({len(shares) for shares in dealt}) == 1  # every worker meets every barrier
    computed = [s for shares in dealt for _, syms, keep in shares for s in (syms if keep is None else keep)]
    assert sorted(computed) == symbols
    for shares in dealt:
        for seed, syms, keep in shares:
            # a share draws its whole chunk's inputs: the chunk's seed and symbols, as undealt
            assert syms == symbols[seed : seed + chunk] if syms else keep == []
            assert keep is None or set(keep) <= set(syms)
    # no round but the last holds a partial share; in the last, the sizes differ by at most one chunk
    # (two workers: by at most one symbol)
    last = [len(syms if keep is None else keep) for shares in dealt for _, syms, keep in shares[-1:]]
    assert all(keep is None for shares in dealt for _, _, keep in shares[:-1])
    if workers == 2:
        assert max(last) - min(last) <= 1


def test_300_symbols_on_two_workers_end_with_two_halves_of_the_last_chunk() -> None:
    dealt = deal([f"S{i:04d}" for i in range(300)], 4, 2)
    assert [len(shares) for shares in dealt] == [38, 38]
    assert [shares[-1][2] for shares in dealt] == [["S0296", "S0297"], ["S0298", "S0299"]]


def _tables(rec: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    panel = build_panel(EVERY, **rec, config=PanelConfig())
    labels = classify(panel, evidence=False)
    return {
        "panel": panel,
        "labels": labels,
        "episodes": episodes(labels),
        "treadmill": treadmill(labels),
        "breakers": circuit_breakers(panel, labels=labels),
        "flow": flow_hierarchy(panel),
    }


def test_a_share_of_a_chunk_computes_what_the_whole_chunk_does_for_its_symbols() -> None:
    syms = ["AAA", "BBB", "CCC", "DDD"]
    whole = _tables(synthetic_records(syms, 6_000, seed=296))
    for keep in (["AAA", "BBB"], ["CCC", "DDD"]):
        rec = share_records((296, syms, keep), 6_000)
        assert rec is not None
        assert regimes_of(build_panel(EVERY, **rec, config=PanelConfig())) == 2 * 6_000
        part = _tables(rec)
        canon = [f"{s}-USDT-PERP" for s in keep]
        for name, frame in whole.items():
            want = frame.filter(pl.col("canonical").is_in(canon))
            assert want.height > 0 or name == "treadmill", name
            assert_frame_equal(part[name], want, check_row_order=True)
    assert share_records((-1, [], []), 6_000) is None
