"""Monte Carlo cascades: a shock, a book (or an ensemble of books), liquidity → outcome distributions.

:func:`simulate` runs ``paths`` cascades for one shock; :func:`fragility` runs a ladder of shocks down
and up with the *same* sampled paths (common random numbers: each path's cascade size is monotone in the
shock, so the quantile curves are too). Uncertain inputs sampled per path:

- the book: ensemble member ``p mod M`` (stratified over the M heatmap ensemble members);
- depth: the impact curve's depth multiplied by ``exp(N(0, depth_log_sd))``;
- resilience: the per-round refill rate, uniform on ``config.refill``;
- the insurance fund is a fixed input (``inf`` by default: no auto-deleveraging).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from perpscope.cascade.book import CascadeInputError, PositionBook
from perpscope.cascade.kernel import KERNELS, PackedBooks, PathsOut, pack_books, run_packed
from perpscope.cascade.liquidity import ImpactCurve


@dataclass(frozen=True, slots=True)
class Shock:
    """The initial push: a relative price move (``kind="move"``, −0.03 = −3%) or a market order of
    ``value`` USD (``kind="usd"``, negative = sell)."""

    kind: Literal["move", "usd"]
    value: float

    @property
    def direction(self) -> int:
        """+1 for a down shock (longs at risk), −1 for an up shock (shorts)."""
        return 1 if self.value < 0 else -1

    def label(self) -> str:
        if self.kind == "move":
            return f"{self.value * 100:+.2f}%"
        return f"market {'sell' if self.value < 0 else 'buy'} of {abs(self.value):,.0f} USD"


_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def parse_shock(text: str) -> Shock:
    """A shock from text.

    - a percent move, ``"-3%"``, ``"+2.5 %"``;
    - a move as a fraction of price, ``"-0.03"`` (a bare number strictly between −1 and 1);
    - a market order in USD with its unit, ``"-250M"``, ``"-250Musd"``, ``"+1.5B$"``, ``"-5000usd"``.

    A bare number of magnitude ≥ 1 (``"3"``, ``"-3"``) is refused: it could be a percent, a fraction or
    USD, and reading it as any of them silently gives a wrong run (``-3`` as USD is no shock at all).
    """
    t = text.strip().lower().replace(" ", "").replace(",", "")
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)%", t) or re.fullmatch(r"([+-]?(?:0?\.\d+|0))", t)
    if m:
        v = float(m.group(1)) / (100.0 if t.endswith("%") else 1.0)
        if not -0.95 <= v <= 5.0 or v == 0.0:
            raise CascadeInputError(f"shock {text!r}: a move must be non-zero, between −95% and +500%")
        return Shock("move", v)
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)(?:([kmb])(?:usd|\$)?|usd|\$)", t)
    if m and float(m.group(1)) != 0.0:
        return Shock("usd", float(m.group(1)) * _UNITS[m.group(2) or ""])
    if re.fullmatch(r"[+-]?\d+(?:\.\d+)?", t):
        n = t.lstrip("+-")
        sign = "-" if t.startswith("-") else "+"
        raise CascadeInputError(
            f"shock {text!r} is ambiguous: a bare number of 1 or more could be a percent, a fraction or USD. "
            f"Write {sign}{n}% for a {n}% move, or {sign}{n}M / {sign}{n}usd for a market order in USD"
        )
    raise CascadeInputError(
        f"shock {text!r}: expected a signed percent move like -3%, a signed fraction like -0.03, or a "
        "signed USD market order like -250M (sell) / +1B (buy)"
    )


@dataclass(frozen=True, slots=True)
class Liquidity:
    """Both sides of the book as impact curves, and how uncertain their depth is."""

    bid: ImpactCurve
    ask: ImpactCurve
    depth_log_sd: float = 0.3

    def curve(self, direction: int) -> ImpactCurve:
        return self.bid if direction > 0 else self.ask


@dataclass(frozen=True, slots=True)
class CascadeConfig:
    """Monte Carlo settings.

    Parameters
    ----------
    paths : int
        Monte Carlo paths.
    refill : (float, float)
        Range of the per-round depth refill rate (uniform): depth at round k is ``1 + refill·k`` times
        the starting depth.
    insurance_usd : float
        Insurance fund available to this market, USD (``inf``: never exhausted).
    r_max : int
        Rounds recorded per path (the cascade itself always runs to the end).
    seed : int
        Seed of the parameter draws.
    engine : {"numba", "reference"}
    """

    paths: int = 1000
    refill: tuple[float, float] = (0.0, 0.2)
    insurance_usd: float = math.inf
    r_max: int = 100
    seed: int = 0
    engine: Literal["numba", "reference"] = "numba"


@dataclass(frozen=True, slots=True)
class Draws:
    """Per-path draws of the uncertain inputs."""

    member: np.ndarray
    scale: np.ndarray
    refill: np.ndarray

    @staticmethod
    def sample(n_members: int, liquidity: Liquidity, config: CascadeConfig) -> Draws:
        rng = np.random.default_rng(config.seed)
        n = config.paths
        member = np.arange(n, dtype=np.int64) % n_members
        scale = (
            np.exp(rng.normal(0.0, liquidity.depth_log_sd, n)) if liquidity.depth_log_sd > 0 else np.ones(n)
        )
        lo, hi = config.refill
        refill = rng.uniform(lo, hi, n) if hi > lo else np.full(n, lo)
        return Draws(member, scale, refill)


@dataclass(frozen=True)
class CascadeResult:
    """Outcome of :func:`simulate`: per-path results of one shock, with the inputs that made them."""

    shock: Shock
    price: float
    open_usd: float  # mean over members of the at-risk side's notional, USD
    draws: Draws
    out: PathsOut
    book_label: str = ""
    liquidity_source: str = ""

    @property
    def final_move(self) -> np.ndarray:
        """Relative price change from the start to the end of each path's cascade."""
        return self.out.final_price / self.price - 1.0

    def summary(self, q: tuple[float, ...] = (10, 50, 90)) -> pl.DataFrame:
        """Quantiles over paths: ``measure, p10, p50, p90, mean`` (USD, fractions of the start price,
        counts). ``added by the cascade`` is the final price minus the post-shock price, over the start
        price."""
        o = self.out
        measures = {
            "final move": self.final_move,
            # beyond the shock's own move (P_s = the price right after it): what the forced flow added
            "added by the cascade": (o.final_price - o.step_price[:, 0]) / self.price,
            "liquidated USD": o.liq_usd,
            "first-round USD": o.first_usd,
            "positions closed": o.n_closed,
            "rounds": o.rounds,
            "branching ratio": o.branching,
            "insurance fund paid USD": o.fund_paid_usd,
            "ADL USD": o.adl_usd,
        }
        rows = []
        for name, v in measures.items():
            ok = v[np.isfinite(v)]
            qs = np.percentile(ok, q) if ok.size else np.full(len(q), np.nan)
            rows.append({"measure": name, **{f"p{x:g}": float(y) for x, y in zip(q, qs, strict=True)},
                         "mean": float(ok.mean()) if ok.size else math.nan})  # fmt: skip
        return pl.DataFrame(rows)

    def steps_frame(self) -> pl.DataFrame:
        """Per round, quantiles over paths: ``round, price_p10/p50/p90, liq_usd_p50, liq_usd_mean,
        closed_mean, fund_paid_usd_mean, adl_usd_mean, paths_active`` (round 0 = right after the shock)."""
        o = self.out
        last = int(min(o.rounds.max(initial=0), o.step_liq_usd.shape[1]))
        price = o.step_price[:, : last + 1].copy()
        for p in range(price.shape[0]):  # a finished path stays at its final price
            k = int(min(o.rounds[p], last))
            price[p, k + 1 :] = price[p, k]
        z = np.zeros((o.step_liq_usd.shape[0], 1))
        liq = np.hstack([z, o.step_liq_usd[:, :last]])
        cols = {
            "round": np.arange(last + 1),
            "price_p10": np.percentile(price, 10, axis=0),
            "price_p50": np.percentile(price, 50, axis=0),
            "price_p90": np.percentile(price, 90, axis=0),
            "liq_usd_p50": np.percentile(liq, 50, axis=0),
            "liq_usd_mean": liq.mean(axis=0),
            "closed_mean": np.hstack([z, o.step_closed[:, :last]]).mean(axis=0),
            "fund_paid_usd_mean": np.hstack([z, o.step_fund_usd[:, :last]]).mean(axis=0),
            "adl_usd_mean": np.hstack([z, o.step_adl_usd[:, :last]]).mean(axis=0),
            "paths_active": (o.rounds[:, None] >= np.arange(last + 1)[None, :]).sum(axis=0),
        }
        return pl.DataFrame(cols)


def _victims(
    books: list[PositionBook], price: float, d: int
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]:
    vic, cp = [], []
    for b in books:
        live = b.live_at(price)
        v = live.take(live.side == d)
        c = live.take(live.side == -d)
        vic.append((v.liq_price, v.qty_base, v.bankrupt_price))
        cp.append((c.qty_base, c.adl_rank(price)))
    return vic, cp


def _check(books: list[PositionBook], price: float) -> None:
    if not books:
        raise CascadeInputError("simulate: no position books given")
    if not (math.isfinite(price) and price > 0):
        raise CascadeInputError(f"simulate: the start price must be positive, got {price}")


def _q0(shock: Shock, curve: ImpactCurve, scale: np.ndarray) -> np.ndarray:
    if shock.kind == "move":
        return scale * float(curve.usd_for(abs(shock.value)))
    return np.full(scale.shape, abs(shock.value))


def simulate(
    books: list[PositionBook],
    price: float,
    shock: Shock,
    liquidity: Liquidity,
    config: CascadeConfig | None = None,
) -> CascadeResult:
    """Monte Carlo cascade from ``price`` after ``shock``.

    Parameters
    ----------
    books : list of PositionBook
        One book, or the members of a heatmap ensemble (sampled per path).
    price : float
        Mark price before the shock, USDT.
    shock : Shock
    liquidity : Liquidity
    config : CascadeConfig, optional

    Returns
    -------
    CascadeResult
    """
    config = config or CascadeConfig()
    _check(books, price)
    d = shock.direction
    draws = Draws.sample(len(books), liquidity, config)
    vic, cp = _victims(books, price, d)
    curve = liquidity.curve(d)
    fund = np.full(config.paths, config.insurance_usd)
    q0 = _q0(shock, curve, draws.scale)
    args = (
        curve.move,
        curve.cum_usd,
        price,
        d,
        draws.member,
        draws.scale,
        draws.refill,
        q0,
        fund,
        config.r_max,
    )
    out = KERNELS[config.engine](vic, cp, *args)
    open_usd = float(np.mean([float((q * liq).sum()) for liq, q, _ in vic]))
    return CascadeResult(shock, price, open_usd, draws, out, books[0].label, curve.source)


def fragility(
    books: list[PositionBook],
    price: float,
    liquidity: Liquidity,
    config: CascadeConfig | None = None,
    moves: tuple[float, ...] = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1),
) -> pl.DataFrame:
    """Cascade size as a function of shock size, down and up, over the same Monte Carlo paths.

    Returns
    -------
    polars.DataFrame
        ``direction`` (down/up), ``shock_pct`` (signed), ``liq_usd_p10/p50/p90``, ``liq_share_p50`` (of
        the at-risk side's open notional), ``final_move_pct_p10/p50/p90`` (signed, % of price),
        ``added_move_pct_p50/p90`` (what the cascade adds beyond the shock: final move − shock, signed,
        percentage points), ``amplification_p50`` (final move / shock), ``branching_p50``.
    """
    config = config or CascadeConfig()
    _check(books, price)
    draws = Draws.sample(len(books), liquidity, config)
    rows = []
    for d, name in ((1, "down"), (-1, "up")):
        vic, cp = _victims(books, price, d)
        packed: PackedBooks = pack_books(vic, cp, d)
        open_usd = float(np.mean([float((q * liq).sum()) for liq, q, _ in vic])) or math.nan
        curve = liquidity.curve(d)
        for mv in moves:
            shock = Shock("move", -d * mv)
            out = run_packed(
                packed, curve.move, curve.cum_usd, price, d, draws.member, draws.scale, draws.refill,
                _q0(shock, curve, draws.scale), np.full(config.paths, config.insurance_usd), 1,
            )  # fmt: skip
            fm = (out.final_price / price - 1.0) * 100.0
            lq = np.percentile(out.liq_usd, (10, 50, 90))
            fq = np.percentile(fm, (10, 50, 90))
            added = np.percentile(fm - (-d * mv * 100.0), (50, 10 if d > 0 else 90))
            br = out.branching[np.isfinite(out.branching)]
            rows.append({
                "direction": name, "shock_pct": -d * mv * 100.0,
                "liq_usd_p10": lq[0], "liq_usd_p50": lq[1], "liq_usd_p90": lq[2],
                "liq_share_p50": lq[1] / open_usd,
                "final_move_pct_p10": fq[0], "final_move_pct_p50": fq[1], "final_move_pct_p90": fq[2],
                "added_move_pct_p50": added[0], "added_move_pct_p90": added[1],
                "amplification_p50": float(np.median(fm / (-d * mv * 100.0))),
                "branching_p50": float(np.median(br)) if br.size else math.nan,
            })  # fmt: skip
    return pl.DataFrame(rows)
