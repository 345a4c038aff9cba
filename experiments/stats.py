"""Paired statistics for the grids' comparisons (report.py): a 95% interval of the mean paired difference by
Student's t and by bootstrap, the exact sign test, and the verdict the results page prints.

Pure Python (no SciPy: it is a test dependency only, and the report must run where the runs were made);
tests/test_experiments.py checks every figure against scipy.stats.

A pair is one seed trained both ways (same data order, latents and evaluation latents), so the difference
``method - baseline`` of a pair removes the seed's own luck; with n pairs the sign test's smallest two-sided p
is 2 / 2^n: 0.0625 for 5 seeds, 0.03125 for 6.
"""

import math
import random

__all__ = ["t_cdf", "t_ppf", "paired_t", "bootstrap_interval", "sign_test", "verdict", "summary"]


def _t_pdf(x, df):
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    return c * (1 + x * x / df) ** (-(df + 1) / 2)


def t_cdf(x, df, intervals=4000):
    """P(T <= x) for Student's t with ``df`` degrees of freedom (Simpson's rule on [0, |x|], by symmetry)."""
    a = abs(float(x))
    if a == 0:
        return 0.5
    if a > 1e4:  # beyond here the integral below loses accuracy; the tail is below 1e-8 for df >= 2
        a = 1e4
    h = a / intervals
    s = _t_pdf(0.0, df) + _t_pdf(a, df)
    s += sum((4 if i % 2 else 2) * _t_pdf(i * h, df) for i in range(1, intervals))
    half = min(0.5, s * h / 3)
    return 0.5 + half if x > 0 else 0.5 - half


def t_ppf(q, df):
    """The ``q`` quantile of Student's t (bisection on :func:`t_cdf`)."""
    if not 0 < q < 1:
        raise ValueError(f"quantile must be in (0, 1), got {q}")
    if q < 0.5:
        return -t_ppf(1 - q, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < q:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < q else (lo, mid)
    return (lo + hi) / 2


def _mean_sd(values):
    n = len(values)
    m = sum(values) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return m, sd


def paired_t(diffs, level=0.95):
    """(mean, low, high, two-sided p of mean 0) of the paired differences by Student's t (n - 1 df)."""
    n = len(diffs)
    if n < 2:
        return (diffs[0] if diffs else float("nan")), float("nan"), float("nan"), float("nan")
    m, sd = _mean_sd(diffs)
    se = sd / math.sqrt(n)
    if se == 0:
        return m, m, m, (1.0 if m == 0 else 0.0)
    half = t_ppf(0.5 + level / 2, n - 1) * se
    return m, m - half, m + half, 2 * (1 - t_cdf(abs(m) / se, n - 1))


def bootstrap_interval(diffs, level=0.95, resamples=10000, seed=0):
    """Percentile interval of the mean paired difference over ``resamples`` resamplings of the pairs (seeded,
    so a report is reproducible). With n pairs there are only C(2n-1, n) distinct resamples: with few seeds the
    interval is narrower than the t interval, read it beside that one."""
    n = len(diffs)
    if n < 2:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    return means[int(math.floor(tail * (resamples - 1)))], means[int(math.ceil((1 - tail) * (resamples - 1)))]


def sign_test(diffs):
    """(negatives, positives, exact two-sided p): how many pairs favour a lower value, how many a higher, and
    the binomial(n, 1/2) probability of a split at least as uneven (ties, a difference of exactly 0, dropped)."""
    neg = sum(1 for d in diffs if d < 0)
    pos = sum(1 for d in diffs if d > 0)
    n = neg + pos
    if n == 0:
        return 0, 0, 1.0
    tail = sum(math.comb(n, k) for k in range(min(neg, pos) + 1)) / 2 ** n
    return neg, pos, min(1.0, 2 * tail)


def verdict(low, high, p_sign, baseline_mean, paper_gain=None, alpha=0.05):
    """For a metric where lower is better (FID) and ``method - baseline`` differences with a 95% t interval
    [low, high] and sign-test p ``p_sign``: "holds" when the whole interval is below 0 and the sign test agrees
    (p < alpha: with 6 seeds, every pair better); "does not hold (baseline better)" the same way round; "does
    not hold (gain below the paper's)" when even the interval's low end is a smaller gain than the smallest
    relative gain the paper reports (``paper_gain``, e.g. 0.037 for 3.7%) would give here, i.e. the data rule
    out an effect of the paper's size; else "inconclusive"."""
    if any(map(math.isnan, (low, high))):
        return "inconclusive"
    if high < 0 and p_sign < alpha:
        return "holds"
    if low > 0 and p_sign < alpha:
        return "does not hold (baseline better)"
    if paper_gain is not None and low > -paper_gain * baseline_mean:
        return "does not hold (gain below the paper's)"
    return "inconclusive"


def summary(baseline, method, paper_gain=None, level=0.95):
    """Everything report.py prints for one comparison at one point: paired lists of the two arms' values."""
    diffs = [m - b for b, m in zip(baseline, method)]
    mean, low, high, p_t = paired_t(diffs, level)
    b_low, b_high = bootstrap_interval(diffs, level)
    neg, pos, p_sign = sign_test(diffs)
    base_mean = sum(baseline) / len(baseline)
    return {"n": len(diffs), "diff": mean, "t_low": low, "t_high": high, "p_t": p_t, "boot_low": b_low,
            "boot_high": b_high, "better": neg, "worse": pos, "p_sign": p_sign,
            "relative": mean / base_mean if base_mean else float("nan"),
            "verdict": verdict(low, high, p_sign, base_mean, paper_gain)}
