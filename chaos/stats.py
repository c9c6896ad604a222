"""Percentiles with a distribution-free confidence interval, for figures measured on a few hundred queries.

A failover p99 over 5 queries says nothing; over 400 it says something, and the interval says how
much. The interval is the classic order-statistic one (Hahn & Meeker, *Statistical Intervals*, 2.4;
Conover, *Practical Nonparametric Statistics*, 3.2): for a sample of ``n`` independent values, the
number ``B`` of them below the true ``q``-quantile is Binomial(n, q), so the k-th smallest value
``x(k)`` lies below the quantile with probability ``P(B >= k)``, and ``[x(l), x(u)]`` covers it with
probability ``P(l <= B <= u - 1)`` whatever the distribution. The two ends are chosen with at most
``(1 - level) / 2`` of probability outside each (equal tails), so the coverage is at least ``level``.

A sample can be too small to bound an end: an upper bound on the p99 at 95 % needs
``1 - 0.99**n >= 0.975``, i.e. ``n >= 367``. That end is then ``None`` ("beyond the largest value
seen"), never the maximum passed off as a bound.

The point estimate is the sample quantile with linear interpolation (numpy's and pandas' default),
so it matches every other percentile in the reports.

scipy is not a dependency: the binomial CDF is summed exactly from log-space terms (``math.lgamma``,
accurate to ~1e-12 for the sample sizes chaos produces), and above ``EXACT_MAX_N`` values it uses
the normal approximation with continuity correction, whose error there is far below the steps of
one order statistic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Above this many values the binomial CDF uses the normal approximation (see the module's docstring).
EXACT_MAX_N = 20_000
DEFAULT_LEVEL = 0.95


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(B <= k) for B ~ Binomial(n, p)."""
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"need n >= 0 and 0 <= p <= 1, got n={n}, p={p}")
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p in (0.0, 1.0):
        return 1.0 if p == 0.0 else 0.0
    if n > EXACT_MAX_N:
        sd = math.sqrt(n * p * (1 - p))
        return 0.5 * math.erfc(-((k + 0.5 - n * p) / sd) / math.sqrt(2))
    return min(1.0, sum(_pmf(i, n, p) for i in range(k + 1)))


def _pmf(i: int, n: int, p: float) -> float:
    log = (math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
           + i * math.log(p) + (n - i) * math.log1p(-p))
    return math.exp(log)


def _cdf_table(n: int, p: float) -> list[float]:
    """[P(B <= k) for k in 0..n]; one pass, not n separate sums."""
    if n > EXACT_MAX_N or p in (0.0, 1.0):
        return [binom_cdf(k, n, p) for k in range(n + 1)]
    out, total = [], 0.0
    for i in range(n + 1):
        total += _pmf(i, n, p)
        out.append(min(1.0, total))
    out[-1] = 1.0
    return out


@dataclass(frozen=True)
class Ranks:
    """1-based ranks of the order statistics bounding the interval; None: that end is unbounded."""

    low: int | None
    high: int | None
    coverage: float  # P(x(low) <= quantile <= x(high)), an unbounded end counting as infinite


def quantile_ci_ranks(n: int, q: float, level: float = DEFAULT_LEVEL) -> Ranks:
    """The equal-tailed order-statistic interval for the ``q``-quantile of ``n`` values."""
    if not 0.0 < q < 1.0 or not 0.0 < level < 1.0:
        raise ValueError(f"need 0 < q < 1 and 0 < level < 1, got q={q}, level={level}")
    if n <= 0:
        return Ranks(None, None, 1.0)
    tail = (1.0 - level) / 2.0
    cdf = _cdf_table(n, q)

    def below(k: int) -> float:  # P(B <= k)
        return 0.0 if k < 0 else cdf[min(k, n)]

    # Lower end x(l): P(B <= l - 1) <= tail, the largest such l (the tightest end that keeps the tail).
    low = max((k for k in range(1, n + 1) if below(k - 1) <= tail), default=None)
    # Upper end x(u): P(B <= u - 1) >= 1 - tail, the smallest such u.
    high = min((k for k in range(1, n + 1) if below(k - 1) >= 1.0 - tail), default=None)
    coverage = (1.0 if high is None else below(high - 1)) - (0.0 if low is None else below(low - 1))
    return Ranks(low, high, coverage)


def min_n_for_upper_bound(q: float, level: float = DEFAULT_LEVEL) -> int:
    """The smallest sample whose equal-tailed interval bounds the ``q``-quantile from above."""
    tail = (1.0 - level) / 2.0
    return math.ceil(math.log(tail) / math.log(q))


@dataclass(frozen=True)
class Percentile:
    """A sample percentile, the sample size and its confidence interval (ends None when unbounded)."""

    q: float
    n: int
    value: float | None  # None: no values
    low: float | None
    high: float | None
    level: float
    coverage: float

    def describe(self, unit: str = "s") -> str:
        if self.value is None:
            return f"p{self.q * 100:g} — (n=0)"
        low = "?" if self.low is None else f"{self.low:.3g}"
        high = "?" if self.high is None else f"{self.high:.3g}"
        return f"p{self.q * 100:g} {self.value:.3g} {unit} [{self.level * 100:g}% CI {low}–{high}, n={self.n}]"


def sample_quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default, pandas' ``quantile``)."""
    if not values:
        raise ValueError("no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def percentile(values: Iterable[float], q: float, level: float = DEFAULT_LEVEL) -> Percentile:
    xs = sorted(float(v) for v in values if not math.isnan(float(v)))
    if not xs:
        return Percentile(q, 0, None, None, None, level, 1.0)
    ranks = quantile_ci_ranks(len(xs), q, level)
    return Percentile(q, len(xs), sample_quantile(xs, q),
                      None if ranks.low is None else xs[ranks.low - 1],
                      None if ranks.high is None else xs[ranks.high - 1], level, ranks.coverage)
