"""Statistics for honest evaluation: intervals, skill scores, direction tests, forecast comparison and
multiple-testing corrections.

Every function takes plain numpy arrays and returns plain numbers, so each can be checked against an
outside reference (scipy, statsmodels, arch, or a paper's worked example — see ``tests/evaluate``).

References
----------
Clopper, C. J. & Pearson, E. S. (1934). The use of confidence or fiducial limits illustrated in the case
of the binomial. *Biometrika* 26(4).
Pesaran, M. H. & Timmermann, A. (1992). A simple nonparametric test of predictive performance. *JBES* 10(4).
Diebold, F. X. & Mariano, R. S. (1995). Comparing predictive accuracy. *JBES* 13(3).
Harvey, D., Leybourne, S. & Newbold, P. (1997). Testing the equality of prediction mean squared errors.
*IJF* 13(2).
Newey, W. K. & West, K. D. (1987). A simple, positive semi-definite, heteroskedasticity and
autocorrelation consistent covariance matrix. *Econometrica* 55(3).
Politis, D. N. & Romano, J. P. (1994). The stationary bootstrap. *JASA* 89(428).
White, H. (2000). A reality check for data snooping. *Econometrica* 68(5).
Hansen, P. R. (2005). A test for superior predictive ability. *JBES* 23(4).
Bailey, D. H. & López de Prado, M. (2014). The deflated Sharpe ratio. *Journal of Portfolio Management*
40(5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as st

#: Euler–Mascheroni constant (expected maximum of Gaussian trials, Bailey & López de Prado 2014).
EULER_GAMMA = 0.5772156649015329

F64 = NDArray[np.float64]


def _f(x: ArrayLike) -> F64:
    return np.asarray(x, dtype=np.float64)


def _b(x: ArrayLike) -> NDArray[np.bool_]:
    return np.asarray(x, dtype=bool)


# --- proportions --------------------------------------------------------------------------------


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper–Pearson) two-sided confidence interval of a binomial proportion.

    Parameters
    ----------
    k, n : int
        Successes and trials (``0 ≤ k ≤ n``).
    alpha : float
        1 − confidence level (0.05 → 95%).

    Returns
    -------
    (float, float)
        Lower and upper bound; ``(nan, nan)`` when ``n == 0``.

    Notes
    -----
    ``lo = B⁻¹(α/2; k, n − k + 1)``, ``hi = B⁻¹(1 − α/2; k + 1, n − k)`` with ``B⁻¹`` the beta quantile;
    ``lo = 0`` at ``k = 0`` and ``hi = 1`` at ``k = n``.
    """
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= k <= n:
        raise ValueError(f"expected 0 ≤ k ≤ n; got k={k}, n={n}")
    lo = 0.0 if k == 0 else float(st.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(st.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return (lo, hi)


def binomial_pvalue(k: int, n: int, p0: float, alternative: str = "greater") -> float:
    """Exact binomial test of ``k`` successes in ``n`` trials against success probability ``p0``.

    ``alternative`` is ``"greater"`` (the hit rate beats ``p0``), ``"less"`` or ``"two-sided"``.
    Returns nan when ``n == 0``.
    """
    if n <= 0:
        return math.nan
    return float(st.binomtest(k, n, p0, alternative=alternative).pvalue)


# --- classification scores ---------------------------------------------------------------------


@dataclass(frozen=True)
class Confusion:
    """2×2 confusion counts: ``tp`` (predicted up, was up), ``fp``, ``tn``, ``fn``."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn


def confusion(y: ArrayLike, yhat: ArrayLike) -> Confusion:
    """Confusion counts of boolean outcomes ``y`` (True = up) and predictions ``yhat``."""
    a, p = _b(y), _b(yhat)
    return Confusion(
        tp=int(np.sum(a & p)), fp=int(np.sum(~a & p)), tn=int(np.sum(~a & ~p)), fn=int(np.sum(a & ~p))
    )


def balanced_accuracy(y: ArrayLike, yhat: ArrayLike) -> float:
    """Mean of the true-positive and true-negative rates; 0.5 for any constant or random predictor.

    A class missing from ``y`` contributes nothing (its rate is undefined): the score is then the other
    class's rate.
    """
    c = confusion(y, yhat)
    rates = []
    if c.tp + c.fn:
        rates.append(c.tp / (c.tp + c.fn))
    if c.tn + c.fp:
        rates.append(c.tn / (c.tn + c.fp))
    return float(np.mean(rates)) if rates else math.nan


def mcc(y: ArrayLike, yhat: ArrayLike) -> float:
    """Matthews correlation coefficient, ``(tp·tn − fp·fn) / √((tp+fp)(tp+fn)(tn+fp)(tn+fn))``.

    0 when a margin is empty (a constant predictor), as scikit-learn reports it.
    """
    c = confusion(y, yhat)
    den = math.sqrt(float(c.tp + c.fp) * (c.tp + c.fn) * (c.tn + c.fp) * (c.tn + c.fn))
    return 0.0 if den == 0 else (c.tp * c.tn - c.fp * c.fn) / den


def brier(p: ArrayLike, y: ArrayLike) -> float:
    """Brier score, ``mean((p − y)²)``, ``p`` the forecast probability of ``y = 1``."""
    return float(np.mean((_f(p) - _f(y)) ** 2))


def log_loss(p: ArrayLike, y: ArrayLike, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood (natural log) of outcomes ``y`` under probabilities ``p``."""
    q = np.clip(_f(p), eps, 1 - eps)
    yy = _f(y)
    return float(-np.mean(yy * np.log(q) + (1 - yy) * np.log(1 - q)))


def skill(score: float, reference: float) -> float:
    """Skill of a loss against a reference loss, ``1 − score / reference`` (> 0: better)."""
    return math.nan if reference == 0 else 1.0 - score / reference


# --- direction test ----------------------------------------------------------------------------


def pesaran_timmermann(y: ArrayLike, yhat: ArrayLike) -> tuple[float, float]:
    """Pesaran–Timmermann (1992) test that predicted directions carry information about realized ones.

    Parameters
    ----------
    y, yhat : array of bool
        Realized and predicted direction (True = up), one per independent forecast.

    Returns
    -------
    (float, float)
        The statistic (asymptotically N(0, 1) under independence) and its one-sided p-value
        (``H1``: the predictor is better than independent guessing). ``(nan, nan)`` when a variance is 0
        (a constant prediction or outcome: the test is undefined).

    Notes
    -----
    ``P = mean(y == yhat)``, ``P* = py·px + (1 − py)(1 − px)``,
    ``var(P) = P*(1 − P*) / n``,
    ``var(P*) = (2py − 1)² px(1 − px)/n + (2px − 1)² py(1 − py)/n + 4 py px (1 − py)(1 − px)/n²``,
    statistic ``(P − P*) / √(var(P) − var(P*))``.
    """
    a, p = _b(y), _b(yhat)
    n = a.size
    if n == 0:
        return (math.nan, math.nan)
    py, px = float(a.mean()), float(p.mean())
    hit = float(np.mean(a == p))
    pstar = py * px + (1 - py) * (1 - px)
    v_p = pstar * (1 - pstar) / n
    v_ps = (
        (2 * py - 1) ** 2 * px * (1 - px) / n
        + (2 * px - 1) ** 2 * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    )
    v = v_p - v_ps
    if v <= 0:
        return (math.nan, math.nan)
    z = (hit - pstar) / math.sqrt(v)
    return (z, float(st.norm.sf(z)))


# --- serial dependence ------------------------------------------------------------------------


def autocov(z: F64, max_lag: int) -> F64:
    """Autocovariances ``γ_0..γ_L`` (divided by n) of a demeaned series, by FFT in O(n log n)."""
    n = z.size
    lags = min(max_lag, n - 1)
    if lags <= 8:
        return np.array([float(z[k:] @ z[: n - k]) / n for k in range(lags + 1)])
    f = np.fft.rfft(z, 2 * n)
    return np.asarray(np.fft.irfft(f * np.conj(f), 2 * n)[: lags + 1] / n, dtype=np.float64)


def newey_west_var(x: ArrayLike, lags: int) -> float:
    """Long-run variance of a series' mean, times n: Newey–West with Bartlett weights.

    ``γ₀ + 2 Σ_{k=1..L} (1 − k/(L+1)) γ_k``, ``γ_k`` the autocovariance at lag ``k`` (divided by n).
    """
    z = _f(x)
    z = z - float(z.mean())
    g = autocov(z, lags)
    k = np.arange(1, g.size)
    return float(g[0] + 2 * np.sum((1 - k / (lags + 1)) * g[1:]))


def mean_ci(x: ArrayLike, alpha: float = 0.05, lags: int = 0) -> tuple[float, float, float]:
    """Mean and two-sided confidence interval, Student t with n − 1 degrees of freedom.

    With ``lags > 0`` the standard error is Newey–West (overlapping observations); with 0 it is the
    usual ``s / √n`` (independent observations).

    Returns
    -------
    (mean, lo, hi)
    """
    v = _f(x)
    n = v.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    m = float(v.mean())
    if n < 2:
        return (m, math.nan, math.nan)
    var = newey_west_var(v, lags) * n / (n - 1) if lags > 0 else float(v.var(ddof=1))
    se = math.sqrt(max(var, 0.0) / n)
    q = float(st.t.ppf(1 - alpha / 2, n - 1))
    return (m, m - q * se, m + q * se)


def diebold_mariano(loss_a: ArrayLike, loss_b: ArrayLike, h: int = 1) -> tuple[float, float]:
    """Diebold–Mariano test of equal expected loss, with the Harvey–Leybourne–Newbold correction.

    Parameters
    ----------
    loss_a, loss_b : array
        Losses of the candidate and the baseline on the same forecasts.
    h : int
        Forecast horizon in steps: the loss differential is treated as MA(h − 1) (Newey–West with
        h − 1 lags and the rectangular weights of the original test).

    Returns
    -------
    (float, float)
        HLN-corrected statistic (negative: ``a`` has the lower loss) and the two-sided p-value from
        Student t with n − 1 degrees of freedom.
    """
    d = _f(loss_a) - _f(loss_b)
    n = d.size
    if n < 3:
        return (math.nan, math.nan)
    g = autocov(d - d.mean(), h - 1)
    v = float(g[0] + 2 * np.sum(g[1:]))
    if v <= 0:
        return (math.nan, math.nan)
    dm = float(d.mean()) / math.sqrt(v / n)
    hln = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    stat = dm * hln
    return (stat, float(2 * st.t.sf(abs(stat), n - 1)))


# --- multiple testing --------------------------------------------------------------------------


def stationary_bootstrap_indices(
    n: int, reps: int, mean_block: float, rng: np.random.Generator
) -> NDArray[np.int64]:
    """Index arrays (``reps × n``) of the Politis–Romano stationary bootstrap.

    Each position starts a new block with probability ``1 / mean_block`` (the first always does) at a
    uniformly drawn index, else continues the previous index by one (wrapping around).
    """
    p = 1.0 / max(mean_block, 1.0)
    new = rng.random((reps, n)) < p
    new[:, 0] = True
    flat = new.ravel()
    fresh = rng.integers(0, n, int(flat.sum()))  # one uniform start per block
    start_val = fresh[np.cumsum(flat) - 1].reshape(reps, n)
    pos = np.arange(n)
    start_pos = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    return np.asarray((start_val + pos - start_pos) % n, dtype=np.int64)


@dataclass(frozen=True)
class SnoopingTest:
    """Outcome of a reality check over many variants.

    Attributes
    ----------
    statistic : float
        Hansen's ``max(max_k √n · mean(d_k) / σ_k, 0)``, d = benchmark loss − model loss, σ_k its
        long-run standard deviation (``max_k √n · mean(d_k)`` in arch's form).
    pvalue_rc : float
        White's reality check p-value (every variant's bootstrap mean recentred on its own mean).
    pvalue_spa : float
        Hansen's SPA p-value (consistent version: poor variants are recentred away).
    n_models, n_obs, reps : int
    """

    statistic: float
    pvalue_rc: float
    pvalue_spa: float
    n_models: int
    n_obs: int
    reps: int


def stationary_bootstrap_variance(d: F64, mean_block: float) -> F64:
    """Long-run variance (times n) of each column's mean under the stationary bootstrap, in closed form.

    ``γ₀ + 2 Σ_{i=1..n-1} κ_i γ_i`` with ``κ_i = (1 − i/n)(1 − p)^i + (i/n)(1 − p)^(n−i)``,
    ``p = 1/mean_block`` (Politis & Romano 1994, eq. 4); ``γ_i`` the autocovariances divided by n. Hansen's
    SPA uses it to decide which variants are too poor to matter.
    """
    n = d.shape[0]
    p = 1.0 / max(mean_block, 1.0)
    i = np.arange(1, n)
    kappa = (1.0 - i / n) * (1.0 - p) ** i + (i / n) * (1.0 - p) ** (n - i)
    out = np.empty(d.shape[1])
    for col in range(d.shape[1]):
        g = autocov(d[:, col] - float(d[:, col].mean()), n - 1)
        out[col] = g[0] + 2.0 * float(kappa @ g[1:])
    return out


def bootstrap_means(d: F64, reps: int, mean_block: float, seed: int) -> F64:
    """Column means of ``reps`` stationary-bootstrap resamples of ``d`` (``reps × k``)."""
    n, k = d.shape
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // max(n * k, 1))  # bound memory: about 16 MB of resampled values at once
    parts = []
    for r0 in range(0, reps, chunk):
        idx = stationary_bootstrap_indices(n, min(chunk, reps - r0), mean_block, rng)
        parts.append(d[idx].mean(axis=1))  # chunk × k
    return np.concatenate(parts)


def snooping_test(d: ArrayLike, boot: ArrayLike, mean_block: float, *, hansen: bool = True) -> SnoopingTest:
    """White's reality check and Hansen's SPA from the loss differentials and their bootstrap means.

    Parameters
    ----------
    d : array (n, K)
        ``L_bench − L_k`` per period and variant (positive: the variant lost less).
    boot : array (reps, K)
        Each variant's mean of ``d`` in each bootstrap resample (any block bootstrap).
    mean_block : float
        The bootstrap's mean block length, for the long-run variances ``σ²_k``
        (:func:`stationary_bootstrap_variance`) that set the SPA's recentring threshold and scale.
    hansen : bool
        True (default): Hansen's (2005) statistic, studentized and floored at 0,
        ``T = max(max_k √n d̄_k / σ_k, 0)``, null draws ``max(max_k √n (d̄*_k − μ_k) / σ_k, 0)``,
        ``p = share of draws ≥ T`` (every variant far worse than the benchmark gives p = 1). False:
        ``arch.bootstrap.SPA``'s computation, ``T = max_k d̄_k`` unscaled and unfloored, ``p = share of
        draws > T`` — the form the tests compare with arch on the same draws.

    Notes
    -----
    Recentring (both forms): ``μ_k = d̄_k`` for White's RC (always unstudentized, as White's) and
    ``μ_k = d̄_k · 1[d̄_k ≥ −√(σ²_k / n · 2 log log n)]`` for the consistent SPA.
    """
    diffs = _f(d)
    draws = _f(boot)
    n, k = diffs.shape
    dbar = diffs.mean(axis=0)
    var = stationary_bootstrap_variance(diffs, mean_block)
    # log log n is defined and positive from n = 3 on; below that no variant is set aside
    floor = -np.sqrt(var / n * 2.0 * math.log(math.log(n))) if n > 2 else np.full(k, -np.inf)
    valid = dbar >= floor
    mu_spa = np.where(valid, dbar, 0.0)
    t_rc = float(np.max(dbar))
    p_rc = float(np.mean(np.max(draws - dbar, axis=1) > t_rc))
    if not hansen:
        p_spa = float(np.mean(np.max(draws - mu_spa, axis=1) > t_rc))
        return SnoopingTest(math.sqrt(n) * t_rc, p_rc, p_spa, k, n, draws.shape[0])
    sd = np.sqrt(np.maximum(var, 1e-300))
    t_spa = max(float(np.max(math.sqrt(n) * dbar / sd)), 0.0)
    null = np.maximum(np.max(math.sqrt(n) * (draws - mu_spa) / sd, axis=1), 0.0)
    p_spa = float(np.mean(null >= t_spa))
    return SnoopingTest(t_spa, p_rc, p_spa, k, n, draws.shape[0])


def reality_check(
    bench_loss: ArrayLike,
    model_losses: ArrayLike,
    reps: int = 1000,
    mean_block: float = 10.0,
    seed: int = 0,
) -> SnoopingTest:
    """White's reality check and Hansen's SPA test: does the best of K variants beat the benchmark?

    Parameters
    ----------
    bench_loss : array (n,)
        Loss of the benchmark (e.g. negative return of staying flat, or of always long).
    model_losses : array (n, K)
        Losses of every variant tried, on the same n periods.
    reps, mean_block, seed
        Stationary-bootstrap replications, mean block length, random seed.

    The resamples are :func:`stationary_bootstrap_indices`; the test itself is :func:`snooping_test`
    (Hansen's studentized form).
    """
    b = _f(bench_loss)
    m = _f(model_losses)
    if m.ndim == 1:
        m = m[:, None]
    d = b[:, None] - m
    return snooping_test(d, bootstrap_means(d, reps, mean_block, seed), mean_block)


def sharpe(returns: ArrayLike) -> float:
    """Per-period Sharpe ratio, ``mean / std`` (sample std); nan with fewer than 2 values or std 0."""
    r = _f(returns)
    if r.size < 2:
        return math.nan
    s = float(r.std(ddof=1))
    return math.nan if s == 0 else float(r.mean()) / s


def expected_max_sharpe(n_trials: int, sharpe_var: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` unskilled trials with Sharpe variance ``sharpe_var``.

    ``√V ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)))``, γ the Euler–Mascheroni constant
    (Bailey & López de Prado 2014, eq. 5 — the ``SR₀`` of the deflated Sharpe ratio).
    """
    if n_trials <= 1:
        return 0.0
    q1 = float(st.norm.ppf(1 - 1 / n_trials))
    q2 = float(st.norm.ppf(1 - 1 / (n_trials * math.e)))
    return math.sqrt(max(sharpe_var, 0.0)) * ((1 - EULER_GAMMA) * q1 + EULER_GAMMA * q2)


def probabilistic_sharpe(sr: float, n: int, skew: float, kurt: float, sr0: float = 0.0) -> float:
    """Probability that the true per-period Sharpe exceeds ``sr0``, given an estimate over ``n`` periods.

    ``Φ((SR − SR₀) √(n − 1) / √(1 − skew·SR + (kurt − 1)/4 · SR²))``, ``kurt`` the (non-excess)
    kurtosis (3 for a normal).
    """
    den = 1 - skew * sr + (kurt - 1) / 4 * sr**2
    if n < 2 or den <= 0 or math.isnan(sr):
        return math.nan
    return float(st.norm.cdf((sr - sr0) * math.sqrt(n - 1) / math.sqrt(den)))


def deflated_sharpe(returns: ArrayLike, n_trials: int, trial_sharpe_var: float) -> float:
    """Deflated Sharpe ratio: the probabilistic Sharpe against the best of ``n_trials`` unskilled trials.

    Parameters
    ----------
    returns : array
        Per-period returns of the selected strategy.
    n_trials : int
        Every variant tried (the trial log's count).
    trial_sharpe_var : float
        Variance of the per-period Sharpe ratios across the trials.
    """
    r = _f(returns)
    sr = sharpe(r)
    if math.isnan(sr):
        return math.nan
    skew = float(st.skew(r))
    kurt = float(st.kurtosis(r, fisher=False))
    return probabilistic_sharpe(sr, r.size, skew, kurt, expected_max_sharpe(n_trials, trial_sharpe_var))


def bh_adjust(pvalues: ArrayLike) -> F64:
    """Benjamini–Hochberg adjusted p-values (q-values) controlling the false discovery rate:
    :func:`scipy.stats.false_discovery_control` (``method="bh"``) over the p-values that are not NaN;
    NaN p-values are left NaN and not counted. ``q_(i) = min_{j ≥ i} p_(j) · m / j``, capped at 1.

    References
    ----------
    Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate. *JRSS B* 57(1).
    """
    p = _f(pvalues)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = st.false_discovery_control(p[ok], method="bh")
    return out


# --- transparent model -------------------------------------------------------------------------


def fit_logistic(x: ArrayLike, y: ArrayLike, l2: float = 1e-4, max_iter: int = 50) -> F64:
    """Logistic regression by iteratively reweighted least squares (Newton), with an intercept.

    Parameters
    ----------
    x : array (n, p)
        Features (standardize them first; the small ridge ``l2`` — not applied to the intercept — only
        keeps separable or collinear fits finite).
    y : array (n,)
        Outcomes 0/1.

    Returns
    -------
    array (p + 1,)
        Coefficients, intercept first.
    """
    yy = _f(y)
    xm = np.column_stack([np.ones(len(yy)), _f(x)])
    beta = np.zeros(xm.shape[1])
    pen = np.full(xm.shape[1], l2 * len(yy))
    pen[0] = 0.0
    for _ in range(max_iter):
        eta = np.clip(xm @ beta, -30, 30)
        p = 1 / (1 + np.exp(-eta))
        w = p * (1 - p)
        grad = xm.T @ (yy - p) - pen * beta
        hess = (xm * w[:, None]).T @ xm + np.diag(pen)
        step = np.linalg.solve(hess + 1e-10 * np.eye(len(beta)), grad)
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return beta


def predict_logistic(beta: ArrayLike, x: ArrayLike) -> F64:
    """Probabilities ``1 / (1 + e^{−(b₀ + x·b)})`` of a :func:`fit_logistic` fit."""
    b = _f(beta)
    eta = np.clip(b[0] + _f(x) @ b[1:], -30, 30)
    return np.asarray(1 / (1 + np.exp(-eta)), dtype=np.float64)
