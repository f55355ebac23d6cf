"""Walk-forward evaluation of direction forecasts: purged, embargoed, point in time, with costs.

A forecast made on panel row ``t`` (known at the bar's end) predicts whether ``ret_H`` — from the open of
bar ``t + 1`` to the close of bar ``t + k`` — is positive. The model is a logistic regression on
standardized features (:func:`perpscope.evaluate.stats.fit_logistic`): transparent, one coefficient per
input.

Folds: test windows of ``test_ms`` follow each other from ``start + train_min_ms``; each is forecast by a
model fit on rows whose **label ended** at least ``embargo_ms`` before the test window starts (purging:
``ts + bar + h ≤ test_start − embargo``), from the data's start (expanding) or over the last
``rolling_ms`` (rolling). The embargo defaults to one horizon.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl
from numpy.typing import NDArray

from perpscope.core.time import DAY_MS, HOUR_MS, YEAR_MS, interval_label
from perpscope.evaluate import stats

#: Training rows a fold needs before it is forecast; the same for every variant, so that all variants of
#: a study are scored on the same test rows.
MIN_TRAIN_ROWS = 200


@dataclass(frozen=True)
class Costs:
    """Trading costs of the rule implied by a forecast (long if up is more likely, else short).

    Attributes
    ----------
    fee_bps : float
        Fee per side in basis points of notional (Binance USDⓈ-M taker 0.05% = 5 bps); a round trip
        (entry and exit) is paid every holding period.
    funding : bool
        Charge funding: a long pays ``funding_rate_8h × h / 8h`` over a holding period (a short receives
        it), using the rate known at the forecast (the panel's last settled rate).
    """

    fee_bps: float = 5.0
    funding: bool = True


@dataclass(frozen=True)
class WalkForwardConfig:
    """Fold layout.

    Attributes
    ----------
    horizon_ms : int
        Forecast horizon, a multiple of the bar length.
    train_min_ms : int
        History before the first test window (default 180 days).
    test_ms : int
        Length of each test window (default 30 days); the model is refit before each.
    rolling_ms : int, optional
        Train on the last ``rolling_ms`` only (None: expanding window from the start).
    embargo_ms : int, optional
        Gap between the last training label's end and the test window (default: one horizon).
    """

    horizon_ms: int
    train_min_ms: int = 180 * DAY_MS
    test_ms: int = 30 * DAY_MS
    rolling_ms: int | None = None
    embargo_ms: int | None = None


@dataclass
class VariantResult:
    """Out-of-sample scores of one variant (features × horizon × model); fractions unless named."""

    name: str
    features: list[str]
    horizon: str
    model: str
    oos_start_ms: int | None
    oos_end_ms: int | None
    n: int
    base_rate: float
    hit_rate: float
    balanced_accuracy: float
    mcc: float
    brier: float
    brier_skill: float
    log_loss: float
    log_loss_skill: float
    n_indep: int
    hits_indep: int
    hit_rate_indep: float
    hit_lo: float
    hit_hi: float
    majority_rate_indep: float
    binom_p_vs_majority: float
    pt_stat: float
    pt_p: float
    dm: dict[str, tuple[float, float]] = field(default_factory=dict)
    trades: int = 0
    mean_net_ret: float = math.nan
    sharpe_ann: float = math.nan
    gross_sharpe_ann: float = math.nan
    coefficients: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _bar_ms(frame: pl.DataFrame) -> int:
    d = frame.get_column("ts_ms").dt.epoch("ms").diff().drop_nulls()
    return int(d.filter(d > 0).min())  # type: ignore[arg-type]


def folds(
    t: np.ndarray, bar_ms: int, cfg: WalkForwardConfig
) -> Iterator[tuple[NDArray[np.bool_], NDArray[np.bool_]]]:
    """Train and test masks of each fold over sorted bar opens ``t`` (ms).

    Test windows ``[s, s + test_ms)`` start at ``t[0] + train_min_ms``; a row trains a fold only if its
    label ended by ``s − embargo`` (``t + bar + h ≤ s − embargo``: purged and embargoed) and, with a
    rolling window, opened at or after ``s − rolling_ms``.
    """
    emb = cfg.horizon_ms if cfg.embargo_ms is None else cfg.embargo_ms
    label_end = t + bar_ms + cfg.horizon_ms
    s = int(t[0]) + cfg.train_min_ms if len(t) else 0
    while len(t) and s <= t[-1]:
        e = s + cfg.test_ms
        test = (t >= s) & (t < e)
        train = label_end <= s - emb
        if cfg.rolling_ms is not None:
            train &= t >= s - cfg.rolling_ms
        yield train, test
        s = e


def predict(
    outcomes: pl.DataFrame,
    features: Sequence[str],
    cfg: WalkForwardConfig,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Out-of-sample probabilities of ``ret_H > 0`` for one series, fold by fold.

    Parameters
    ----------
    outcomes : polars.DataFrame
        One series' :func:`~perpscope.evaluate.events.forward_outcomes`, rows with null features or
        target already removed (so that every variant is scored on the same rows).
    features : sequence of str
        Feature columns (empty: the class prior alone).
    cfg : WalkForwardConfig

    Returns
    -------
    (polars.DataFrame, dict)
        Test rows with ``ts_ms, y`` (bool), ``p`` (model), ``prior`` (training base rate) and the
        baselines' forecasts ``trailing`` (the previous horizon's return was up) and ``persistence``
        (the last bar closed up); and the last fold's coefficients on standardized features.
    """
    lab = interval_label(cfg.horizon_ms)
    bar = _bar_ms(outcomes)
    t = outcomes.get_column("ts_ms").dt.epoch("ms").to_numpy()
    y = (outcomes.get_column(f"ret_{lab}").to_numpy() > 0).astype(float)
    x = outcomes.select(features).to_numpy().astype(float) if features else np.zeros((len(t), 0))
    parts: list[pl.DataFrame] = []
    coefs: dict[str, float] = {}
    for train, test in folds(t, bar, cfg):
        if test.any() and train.sum() >= MIN_TRAIN_ROWS:
            mu, sd = x[train].mean(axis=0), x[train].std(axis=0)
            sd[sd == 0] = 1.0
            prior = float(y[train].mean())
            if x.shape[1]:
                beta = stats.fit_logistic((x[train] - mu) / sd, y[train], l2=1e-3)
                p = stats.predict_logistic(beta, (x[test] - mu) / sd)
                coefs = {"intercept": float(beta[0])} | {
                    f: float(b) for f, b in zip(features, beta[1:], strict=True)
                }
            else:
                p = np.full(int(test.sum()), prior)
            parts.append(
                outcomes.filter(pl.Series(test)).select(
                    "ts_ms",
                    pl.Series("y", y[test] > 0.5),
                    pl.Series("p", p),
                    pl.lit(prior).alias("prior"),
                    (pl.col(f"past_ret_{lab}") > 0).fill_null(True).alias("trailing"),
                    (pl.col("close") > pl.col("open")).alias("persistence"),
                    pl.col(f"ret_{lab}").alias("ret"),
                    (pl.col("funding_rate_8h") if "funding_rate_8h" in outcomes.columns else pl.lit(0.0))
                    .fill_null(0.0)
                    .alias("funding_8h"),
                )
            )
    if not parts:
        return outcomes.head(0).select("ts_ms"), coefs
    return pl.concat(parts), coefs


def _net(pos: np.ndarray, gross: np.ndarray, fund: np.ndarray, horizon_ms: int, costs: Costs) -> np.ndarray:
    """Net return per period: ``gross`` less a round trip of fees and the funding a long pays."""
    return gross - 2 * costs.fee_bps / 1e4 - pos * fund * horizon_ms / (8 * HOUR_MS)


def score(
    name: str,
    features: Sequence[str],
    pred: pl.DataFrame,
    horizon_ms: int,
    bar_ms: int,
    costs: Costs,
    model: str = "logistic",
    coefficients: dict[str, float] | None = None,
) -> tuple[VariantResult, np.ndarray, np.ndarray]:
    """Scores of one variant's out-of-sample predictions (see :class:`VariantResult`).

    Overlap: with ``k = h / bar > 1`` consecutive labels share ``k − 1`` bars. Scores over all rows
    (hit rate, Brier, log-loss, DM with ``k − 1`` Newey–West lags) use every row; the exact tests
    (Clopper–Pearson, binomial, Pesaran–Timmermann) and the trading rule use every k-th row only
    (non-overlapping, independent in the label window).

    Returns
    -------
    (VariantResult, numpy.ndarray, numpy.ndarray)
        Scores, and the net and gross (before fees and funding) return of the rule on each
        non-overlapping period (for the reality check).
    """
    lab = interval_label(horizon_ms)
    k = max(1, horizon_ms // bar_ms)
    y = pred.get_column("y").to_numpy().astype(bool)
    p = pred.get_column("p").to_numpy().astype(float)
    prior = pred.get_column("prior").to_numpy().astype(float)
    yhat = p > 0.5
    hits = yhat == y
    t = pred.get_column("ts_ms").dt.epoch("ms").to_numpy()
    sub = np.arange(0, len(y), k)
    yi, yhi = y[sub], yhat[sub]
    hi_k = int(np.sum(yi == yhi))
    up = float(yi.mean()) if len(yi) else math.nan
    maj = max(up, 1 - up) if len(yi) else math.nan
    lo, hi = stats.clopper_pearson(hi_k, len(sub))
    pt, ptp = stats.pesaran_timmermann(yi, yhi) if len(yi) else (math.nan, math.nan)
    br, br0 = stats.brier(p, y), stats.brier(prior, y)
    ll, ll0 = stats.log_loss(p, y), stats.log_loss(prior, y)
    dm = _dm_tests(pred, y, p, prior, hits, k)
    net, gross = _rule_returns(pred, sub, yhi, horizon_ms, costs)
    per_year = YEAR_MS / horizon_ms
    res = VariantResult(
        name=name,
        features=list(features),
        horizon=lab,
        model=model,
        oos_start_ms=int(t[0]) if len(t) else None,
        oos_end_ms=int(t[-1]) if len(t) else None,
        n=len(y),
        base_rate=float(y.mean()) if len(y) else math.nan,
        hit_rate=float(hits.mean()) if len(y) else math.nan,
        balanced_accuracy=stats.balanced_accuracy(y, yhat),
        mcc=stats.mcc(y, yhat),
        brier=br,
        brier_skill=stats.skill(br, br0),
        log_loss=ll,
        log_loss_skill=stats.skill(ll, ll0),
        n_indep=len(sub),
        hits_indep=hi_k,
        hit_rate_indep=hi_k / len(sub) if len(sub) else math.nan,
        hit_lo=lo,
        hit_hi=hi,
        majority_rate_indep=maj,
        binom_p_vs_majority=stats.binomial_pvalue(hi_k, len(sub), maj) if 0 < maj < 1 else math.nan,
        pt_stat=pt,
        pt_p=ptp,
        dm=dm,
        trades=len(sub),
        mean_net_ret=float(net.mean()) if len(net) else math.nan,
        sharpe_ann=stats.sharpe(net) * math.sqrt(per_year),
        gross_sharpe_ann=stats.sharpe(gross) * math.sqrt(per_year),
        coefficients=coefficients or {},
    )
    return res, net, gross


def _dm_tests(
    pred: pl.DataFrame, y: np.ndarray, p: np.ndarray, prior: np.ndarray, hits: np.ndarray, k: int
) -> dict[str, tuple[float, float]]:
    """Diebold–Mariano (statistic, p-value) of the 0-1 loss against always-long, the trailing return's
    sign and the last bar's sign, and of the Brier loss against the class prior (``k − 1`` lags)."""
    dm: dict[str, tuple[float, float]] = {}
    miss = (~hits).astype(float)
    for base in ("always_long", "trailing", "persistence"):
        bpred = np.ones_like(y) if base == "always_long" else pred.get_column(base).to_numpy().astype(bool)
        dm[base] = stats.diebold_mariano(miss, (bpred != y).astype(float), h=k)
    dm["prior_brier"] = stats.diebold_mariano((p - y) ** 2, (prior - y) ** 2, h=k)
    return dm


def _rule_returns(
    pred: pl.DataFrame, sub: np.ndarray, up: np.ndarray, horizon_ms: int, costs: Costs
) -> tuple[np.ndarray, np.ndarray]:
    """Net and gross return (fractions) of the rule on the non-overlapping rows ``sub``: long where
    ``up`` (the predicted direction of those rows), else short; net of fees and, if charged, funding."""
    ret = pred.get_column("ret").to_numpy()[sub]
    fund = pred.get_column("funding_8h").to_numpy()[sub] if costs.funding else np.zeros(len(sub))
    pos = np.where(up, 1.0, -1.0)
    gross = pos * ret
    return _net(pos, gross, fund, horizon_ms, costs), gross


def rule_periods(
    pred: pl.DataFrame, horizon_ms: int, bar_ms: int, costs: Costs
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The trading rule's non-overlapping periods (as :func:`score` takes them) and always-long's net return.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Forecast time (ms UTC, the panel row's bar open) of every k-th row, and the net return of being
        long over each of those periods with the same costs as the rule (a round trip of fees per period,
        funding paid at the last known rate) — the reference the rule's P&L is drawn against.
    """
    k = max(1, horizon_ms // bar_ms)
    sub = np.arange(0, pred.height, k)
    t = pred.get_column("ts_ms").dt.epoch("ms").to_numpy()[sub].astype(np.int64)
    ret = pred.get_column("ret").to_numpy()[sub].astype(float)
    fund = pred.get_column("funding_8h").to_numpy()[sub] if costs.funding else np.zeros(len(sub))
    ones = np.ones(len(sub))
    return t, _net(ones, ret, fund, horizon_ms, costs)
