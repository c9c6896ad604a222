"""Percentiles and their distribution-free confidence intervals (chaos/stats.py) against known values."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest

from chaos import stats
from chaos.stats import binom_cdf, min_n_for_upper_bound, percentile, quantile_ci_ranks, sample_quantile


def exact_cdf(k: int, n: int, p: Fraction) -> float:
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1)))


@pytest.mark.parametrize(("k", "n", "p"), [(2, 10, Fraction(1, 2)), (5, 20, Fraction(3, 10)), (0, 7, Fraction(1, 3)),
                                           (195, 200, Fraction(99, 100)), (48, 100, Fraction(1, 2)),
                                           (359, 367, Fraction(99, 100))])
def test_binomial_cdf_matches_exact_arithmetic(k: int, n: int, p: Fraction) -> None:
    assert binom_cdf(k, n, float(p)) == pytest.approx(exact_cdf(k, n, p), rel=1e-9, abs=1e-12)


def test_binomial_cdf_edges() -> None:
    assert binom_cdf(2, 10, 0.5) == 56 / 1024
    assert binom_cdf(-1, 10, 0.5) == 0.0 and binom_cdf(10, 10, 0.5) == 1.0
    assert binom_cdf(3, 10, 0.0) == 1.0 and binom_cdf(3, 10, 1.0) == 0.0
    with pytest.raises(ValueError):
        binom_cdf(1, 10, 1.5)


def test_large_samples_use_the_normal_approximation_closely() -> None:
    n, p = stats.EXACT_MAX_N + 1000, 0.5
    for k in (n // 2 - 150, n // 2, n // 2 + 80):
        exact = min(1.0, sum(stats._pmf(i, n, p) for i in range(k + 1)))
        assert binom_cdf(k, n, p) == pytest.approx(exact, abs=2e-3)


def test_the_median_interval_of_100_values_is_the_textbook_one() -> None:
    # Conover, Practical Nonparametric Statistics, table A3: n = 100, 95 %: x(40) to x(61), 96.48 %.
    ranks = quantile_ci_ranks(100, 0.5)
    assert (ranks.low, ranks.high) == (40, 61)
    assert ranks.coverage == pytest.approx(0.9648, abs=1e-4)


def test_a_p99_needs_368_values_for_an_upper_bound() -> None:
    assert min_n_for_upper_bound(0.99) == 368  # 0.99**368 <= 0.025 < 0.99**367
    assert quantile_ci_ranks(367, 0.99).high is None
    assert quantile_ci_ranks(368, 0.99).high == 368
    two_hundred = quantile_ci_ranks(200, 0.99)
    assert two_hundred.high is None and two_hundred.low == 195
    assert 1 - 0.99**200 < 0.975  # why: even the largest of 200 is below the p99 more than 2.5 % of the time
    assert quantile_ci_ranks(6, 0.5).high == 6 and quantile_ci_ranks(5, 0.5).high is None
    assert min_n_for_upper_bound(0.5) == 6


def test_every_interval_keeps_its_level() -> None:
    for n in (10, 50, 200, 400, 1000):
        for q in (0.5, 0.9, 0.99):
            r = quantile_ci_ranks(n, q)
            assert r.coverage >= 0.95 - 1e-9, (n, q, r)
            if r.low is not None and r.high is not None:
                assert 1 <= r.low < r.high <= n


def test_percentile_of_1_to_100() -> None:
    p = percentile(range(1, 101), 0.5)
    assert (p.n, p.value, p.low, p.high) == (100, 50.5, 40.0, 61.0)
    assert p.describe() == "p50 50.5 s [95% CI 40–61, n=100]"
    empty = percentile([], 0.99)
    assert (empty.n, empty.value, empty.low, empty.high) == (0, None, None, None)
    assert percentile([float("nan"), 2.0], 0.5).n == 1  # NaN is no measurement


def test_sample_quantile_is_numpys_linear_interpolation() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 37, 400):
        xs = rng.exponential(size=n).tolist()
        for q in (0.5, 0.9, 0.99):
            assert sample_quantile(xs, q) == pytest.approx(float(np.quantile(xs, q)))


def test_the_interval_covers_the_true_quantile_as_often_as_it_says() -> None:
    # Exponential(1): the median is ln 2, the p90 ln 10. 300 seeded samples of 200 values each.
    rng = random.Random(11)
    for q, truth in ((0.5, math.log(2)), (0.9, math.log(10))):
        covered = 0
        for _ in range(300):
            p = percentile([rng.expovariate(1.0) for _ in range(200)], q)
            assert p.low is not None and p.high is not None
            covered += p.low <= truth <= p.high
        assert covered / 300 >= 0.92, (q, covered)
