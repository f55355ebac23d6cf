"""Statistics against outside references: statsmodels, scipy, arch and published worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perpscope.evaluate import stats


def test_clopper_pearson_matches_statsmodels() -> None:
    from statsmodels.stats.proportion import proportion_confint

    for k, n in [(0, 10), (7, 10), (10, 10), (714, 1000), (52, 97)]:
        lo, hi = stats.clopper_pearson(k, n)
        rlo, rhi = proportion_confint(k, n, alpha=0.05, method="beta")
        assert lo == pytest.approx(rlo, abs=1e-12)
        assert hi == pytest.approx(rhi, abs=1e-12)


def test_clopper_pearson_textbook() -> None:
    # Clopper & Pearson's classic: 0 of 10 → upper bound 1 − 0.025^(1/10) = 0.30850
    assert stats.clopper_pearson(0, 10)[1] == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-10)


def test_binomial_pvalue_matches_statsmodels() -> None:
    from statsmodels.stats.proportion import binom_test

    assert stats.binomial_pvalue(60, 100, 0.5) == pytest.approx(
        binom_test(60, 100, 0.5, alternative="larger"), rel=1e-10
    )


def test_confusion_scores_by_hand() -> None:
    # tp=3 fp=1 tn=4 fn=2 (worked by hand): TPR 3/5, TNR 4/5
    y = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    p = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert stats.balanced_accuracy(y, p) == pytest.approx(0.7)
    assert stats.mcc(y, p) == pytest.approx((3 * 4 - 1 * 2) / math.sqrt(4 * 5 * 5 * 6))
    assert stats.mcc(y, [1] * 10) == 0.0
    assert stats.balanced_accuracy(y, [1] * 10) == pytest.approx(0.5)


def test_brier_and_log_loss_by_hand() -> None:
    p, y = [0.8, 0.3], [1, 0]
    assert stats.brier(p, y) == pytest.approx((0.04 + 0.09) / 2)
    assert stats.log_loss(p, y) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    assert stats.skill(0.2, 0.25) == pytest.approx(0.2)


def test_pesaran_timmermann_squares_to_the_2x2_chi_square() -> None:
    # PT is asymptotically the signed root of Pearson's chi-square for independence on the 2x2 table
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(3)
    y = rng.random(20_000) < 0.52
    x = np.where(rng.random(20_000) < 0.55, y, ~y)
    z, p = stats.pesaran_timmermann(y, x)
    table = [[np.sum(y & x), np.sum(y & ~x)], [np.sum(~y & x), np.sum(~y & ~x)]]
    chi2 = chi2_contingency(table, correction=False).statistic
    assert z**2 == pytest.approx(chi2, rel=2e-3)
    assert z > 0 and p < 1e-10
    assert math.isnan(stats.pesaran_timmermann(y, np.ones_like(y))[0])


def test_mean_ci_matches_statsmodels() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(1)
    x = rng.normal(0.1, 1, 300)
    m, lo, hi = stats.mean_ci(x)
    ref = sm.OLS(x, np.ones_like(x)).fit().conf_int(0.05)[0]
    assert (lo, hi) == pytest.approx(tuple(ref), rel=1e-10)
    assert m == pytest.approx(x.mean())


def test_newey_west_matches_statsmodels_hac() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(2)
    e = rng.normal(size=501)
    x = e[1:] + 0.7 * e[:-1]
    fit = sm.OLS(x, np.ones_like(x)).fit(cov_type="HAC", cov_kwds={"maxlags": 5, "use_correction": False})
    se_ref = float(fit.bse[0])
    se = math.sqrt(stats.newey_west_var(x, 5) / x.size)
    assert se == pytest.approx(se_ref, rel=1e-10)


def test_diebold_mariano_equals_hln_formula_on_a_case_by_hand() -> None:
    # h = 1: DM = mean(d) / sqrt(var0(d)/n), var0 with divisor n; HLN factor sqrt((n-1)/n)
    d_a = np.array([1.0, 2.0, 0.5, 1.5, 3.0, 0.0])
    d_b = np.zeros(6)
    d = d_a - d_b
    n = 6
    dm = d.mean() / math.sqrt(d.var() / n)
    stat, p = stats.diebold_mariano(d_a, d_b, h=1)
    assert stat == pytest.approx(dm * math.sqrt((n - 1) / n))
    # with h=1 the HLN-corrected DM is the one-sample t statistic on d
    from scipy.stats import ttest_1samp

    t = ttest_1samp(d, 0.0)
    assert stat == pytest.approx(t.statistic)
    assert p == pytest.approx(t.pvalue)


def test_deflated_sharpe_reproduces_bailey_lopez_de_prado_example() -> None:
    # Bailey & López de Prado (2014), section "A numerical example": annualized SR 2.5 over 1,250
    # daily observations, 100 trials with annualized SR variance 0.5, skew -3, kurtosis 10 →
    # SR0 ≈ 0.1132 (daily) and DSR ≈ 0.9004.
    sr0 = stats.expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-4)
    dsr = stats.probabilistic_sharpe(2.5 / math.sqrt(250), 1250, -3.0, 10.0, sr0)
    assert dsr == pytest.approx(0.9004, abs=2e-3)


def _snooping_case(shift: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n, k = 600, 8
    bench = rng.normal(0, 1, n)
    models = 0.5 * bench[:, None] + rng.normal(0, 1, (n, k))
    models[:, 0] -= shift  # one variant with a lower loss
    models[:, -1] += 0.5  # one clearly poor variant, which the consistent SPA recentres away
    return bench, models


@pytest.mark.parametrize("shift", [0.0, 0.25, 0.3, 0.6])
def test_snooping_test_equals_arch_spa_on_the_same_resamples(shift: float) -> None:
    # arch's SPA and ours, fed the same stationary-bootstrap draws (arch's own, same seed), must give the
    # same p-values to the last resample: "consistent" is Hansen's SPA, "upper" White's reality check.
    from arch.bootstrap import SPA, StationaryBootstrap

    bench, models = _snooping_case(shift)
    d = bench[:, None] - models
    draws = StationaryBootstrap(10, d, seed=1)
    boot = np.array([pos[0].mean(axis=0) for pos, _ in draws.bootstrap(2000)])
    ours = stats.snooping_test(d, boot, mean_block=10, hansen=False)
    spa = SPA(bench, models, block_size=10, reps=2000, bootstrap="stationary", seed=1)
    spa.compute()
    assert ours.pvalue_spa == pytest.approx(float(spa.pvalues["consistent"]), abs=1e-12)
    assert ours.pvalue_rc == pytest.approx(float(spa.pvalues["upper"]), abs=1e-12)
    assert ours.statistic == pytest.approx(np.sqrt(600) * d.mean(axis=0).max())


def test_hansen_spa_of_one_variant_equals_arch_on_the_same_resamples() -> None:
    # One variant: dividing by its σ and flooring at 0 change neither the order of the draws nor (for a
    # variant ahead of the benchmark) the comparison, so Hansen's studentized p-value must be arch's.
    from arch.bootstrap import SPA, StationaryBootstrap

    bench, models = _snooping_case(0.25)
    one = models[:, :1]
    d = bench[:, None] - one
    assert d.mean() > 0
    boot = np.array([pos[0].mean(axis=0) for pos, _ in StationaryBootstrap(10, d, seed=3).bootstrap(2000)])
    ours = stats.snooping_test(d, boot, mean_block=10)
    spa = SPA(bench, one, block_size=10, reps=2000, bootstrap="stationary", seed=3)
    spa.compute()
    assert 0.0 < ours.pvalue_spa < 0.5
    assert ours.pvalue_spa == pytest.approx(float(spa.pvalues["consistent"]), abs=1e-12)


def test_hansen_spa_says_one_when_every_variant_is_far_worse() -> None:
    # every variant loses 0.5 more than the benchmark each period: no evidence of superiority (p = 1);
    # arch's unfloored form answers about 0.5 here, which reads as "undecided"
    bench, models = _snooping_case(0.0)
    d = bench[:, None] - (models + 0.5)
    boot = stats.bootstrap_means(d, 1000, 10, 0)
    assert stats.snooping_test(d, boot, 10).pvalue_spa == 1.0
    assert stats.snooping_test(d, boot, 10).statistic == 0.0


def test_stationary_bootstrap_variance_equals_arch() -> None:
    from arch.bootstrap import SPA

    bench, models = _snooping_case(0.2)
    spa = SPA(bench, models, block_size=7, reps=10, bootstrap="stationary", seed=0)
    spa.compute()
    ours = stats.stationary_bootstrap_variance(bench[:, None] - models, 7)
    assert ours == pytest.approx(spa._loss_diff_var, rel=1e-10)


def test_reality_check_with_our_resamples_agrees_with_arch_within_resampling_error() -> None:
    # Our own resamples are other draws of the same stationary bootstrap: the RC p-values differ from arch's
    # by resampling error only, whose standard error at 2,000 draws is at most √(0.25/2000) ≈ 0.011 per
    # side; 0.045 is three standard errors of the difference of two such estimates.
    from arch.bootstrap import SPA

    for shift in (0.0, 0.25, 0.6):
        bench, models = _snooping_case(shift)
        ours = stats.reality_check(bench, models, reps=2000, mean_block=10, seed=1)
        spa = SPA(bench, models, block_size=10, reps=2000, bootstrap="stationary", seed=1)
        spa.compute()
        assert ours.pvalue_rc == pytest.approx(float(spa.pvalues["upper"]), abs=0.045)
    assert ours.pvalue_spa < 0.05  # a clearly better variant is found


def test_logistic_matches_statsmodels_logit() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(4)
    x = rng.normal(size=(800, 2))
    y = (rng.random(800) < 1 / (1 + np.exp(-(0.3 + 0.8 * x[:, 0] - 0.5 * x[:, 1])))).astype(float)
    beta = stats.fit_logistic(x, y, l2=0.0)
    ref = sm.Logit(y, sm.add_constant(x)).fit(disp=0).params
    assert beta == pytest.approx(ref, abs=1e-6)
    assert stats.predict_logistic(beta, x[:3]) == pytest.approx(
        sm.Logit(y, sm.add_constant(x)).fit(disp=0).predict(sm.add_constant(x)[:3]), abs=1e-6
    )


def test_bh_adjust_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.2, 0.5, 0.001, np.nan])
    q = stats.bh_adjust(p)
    ref = multipletests(p[:-1], method="fdr_bh")[1]
    assert q[:-1] == pytest.approx(ref, abs=1e-12)
    assert math.isnan(q[-1])


def test_stationary_bootstrap_blocks_have_the_mean_length() -> None:
    rng = np.random.default_rng(0)
    idx = stats.stationary_bootstrap_indices(5_000, 20, 10.0, rng)
    assert idx.shape == (20, 5_000) and idx.min() >= 0 and idx.max() < 5_000
    cont = np.diff(idx, axis=1) == 1  # within a block the index moves by one (wrap-arounds are rare)
    assert 1 - cont.mean() == pytest.approx(0.1, abs=0.01)  # a new block with probability 1/10


def test_fft_autocovariance_equals_the_direct_sum() -> None:
    rng = np.random.default_rng(5)
    z = rng.normal(size=3_000)
    z -= z.mean()
    g = stats.autocov(z, 40)
    direct = [float(z[k:] @ z[: z.size - k]) / z.size for k in range(41)]
    assert g == pytest.approx(direct, abs=1e-10)
