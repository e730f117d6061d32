"""The statistics of a message experiment, in plain Python.

Two variants of a step (two messages, or a message against a hold-out that
receives nothing) are compared on the share of customers who paid within 7
and 30 days of the step, and on the days they took to pay:

- a share's confidence interval is Wilson's score interval, which stays inside
  0 to 1 and behaves with few customers, where the normal approximation does
  not;
- two shares are compared with the two-proportion z-test (pooled variance), or
  Fisher's exact test while the groups are small: one variant is better "with
  statistical confidence" when the two-sided p value is under ``ALPHA``;
- the days to pay (of those who paid) get a normal interval around their mean.
"""

from dataclasses import dataclass
from math import comb, sqrt
from statistics import NormalDist, fmean, stdev

ALPHA = 0.05
Z = NormalDist().inv_cdf(1 - ALPHA / 2)  # 1.96


@dataclass(frozen=True)
class Share:
    successes: int
    total: int
    low: float  # confidence interval
    high: float

    @property
    def value(self):
        return self.successes / self.total if self.total else None


def share(successes, total):
    """The share ``successes / total`` with Wilson's 95 % interval."""
    if not total:
        return Share(successes, total, 0.0, 1.0)
    p = successes / total
    denominator = 1 + Z * Z / total
    centre = (p + Z * Z / (2 * total)) / denominator
    half = Z * sqrt(p * (1 - p) / total + Z * Z / (4 * total * total)) / denominator
    return Share(successes, total, max(0.0, centre - half), min(1.0, centre + half))


def compare(first, second):
    """The two-sided p value of the difference between two shares (None when
    either has no customer, or nobody or everybody succeeded in both): the
    z-test, or Fisher's exact test when a cell of the 2x2 table would expect
    fewer than 5 customers, where the z-test's normal approximation fails."""
    if not first.total or not second.total:
        return None
    successes = first.successes + second.successes
    total = first.total + second.total
    pooled = successes / total
    variance = pooled * (1 - pooled) * (1 / first.total + 1 / second.total)
    if variance <= 0:
        return None
    smallest = min(first.total, second.total) * min(pooled, 1 - pooled)
    if smallest < 5:
        return fisher_exact(first.successes, first.total, second.successes, total)
    z = (first.value - second.value) / sqrt(variance)
    return 2 * (1 - NormalDist().cdf(abs(z)))


def fisher_exact(successes, total, other_successes, grand_total):
    """Fisher's two-sided exact p value for ``successes`` of ``total`` in one
    group against ``other_successes`` of the rest of ``grand_total``: the
    probability, with the margins fixed, of every table no likelier than the
    one observed."""
    all_successes = successes + other_successes

    def probability(k):
        return (
            comb(all_successes, k)
            * comb(grand_total - all_successes, total - k)
            / comb(grand_total, total)
        )

    observed = probability(successes)
    low = max(0, total - (grand_total - all_successes))
    high = min(total, all_successes)
    return min(
        1.0,
        sum(
            p
            for p in (probability(k) for k in range(low, high + 1))
            if p <= observed * (1 + 1e-7)
        ),
    )


@dataclass(frozen=True)
class Mean:
    value: float | None
    low: float | None
    high: float | None
    count: int


def mean(values):
    """The mean of ``values`` with a normal 95 % interval (none from fewer
    than two values)."""
    values = list(values)
    if not values:
        return Mean(None, None, None, 0)
    average = fmean(values)
    if len(values) < 2:
        return Mean(average, None, None, 1)
    half = Z * stdev(values) / sqrt(len(values))
    return Mean(average, average - half, average + half, len(values))


def verdict(champion, challenger):
    """``(better, p)`` of two shares: "challenger" or "champion" when one is
    higher with statistical confidence, else None."""
    p = compare(champion, challenger)
    if p is None or p >= ALPHA:
        return None, p
    return ("challenger" if challenger.value > champion.value else "champion"), p
