"""Statistics for comparing two sets of samples: robust centre and spread, and a one-sided rank test.

Every function validates its input (a sequence of finite numbers of at least the length it
needs) and raises :class:`ValueError` with a one-line message otherwise.  :func:`median` and
:func:`mad` (raw, not scaled to a normal's sigma) are the centre and spread every table of the
suite shows (``median ± MAD``).  :func:`shift_test` answers "are the ``now`` samples
stochastically larger (or smaller) than the ``base`` samples?" with the one-sided Mann-Whitney
U test of :mod:`scipy.stats`: the exact distribution of U when no value is tied, a permutation
test otherwise (every arrangement, or :data:`PERMUTATIONS` of them drawn with a fixed seed, so
the same samples always give the same p-value).  :func:`min_p_value` is the smallest p-value
that test can give for the sample sizes at hand, so a caller can refuse a comparison that could
never reach its alpha.  Why these statistics for timings: docs/gate.md.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy.stats import PermutationMethod, mannwhitneyu, median_abs_deviation

Alternative = Literal["greater", "less"]
#: Rank arrangements a permutation test counts (every one, when there are fewer).
PERMUTATIONS = 9999


def check_samples(values: Sequence[float], *, name: str = "samples", minimum: int = 1) -> list[float]:
    """``values`` as a list of floats; ValueError unless it holds at least ``minimum`` finite numbers."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError(f"{name}: expected a sequence of numbers, got {type(values).__name__}")
    out: list[float] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name}: expected finite numbers, got {value!r}")
        out.append(float(value))
    if len(out) < minimum:
        raise ValueError(f"{name}: need at least {minimum} value(s), got {len(out)}")
    return out


def median(values: Sequence[float]) -> float:
    """The median of at least one finite number."""
    return statistics.median(check_samples(values))


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median (unscaled), of at least one finite number."""
    return float(median_abs_deviation(check_samples(values), scale=1.0))


def relative_change(base: float, now: float) -> float:
    """``now / base - 1``: +0.10 means ten per cent higher.  ``base`` must be a positive finite number."""
    check_samples([base, now], name="relative_change")
    if base <= 0:
        raise ValueError(f"relative_change: the base must be positive, got {base!r}")
    return now / base - 1.0


def min_p_value(n_base: int, n_now: int) -> float:
    """The smallest one-sided p-value the exact Mann-Whitney test can give: ``1 / C(n_base + n_now, n_now)``.

    Reached when every ``now`` sample lies beyond every ``base`` sample.  With
    3 against 3 that is 0.05, with 5 against 5 about 0.004: a comparison whose
    smallest possible p-value is above alpha can never flag anything.
    """
    for label, n in (("n_base", n_base), ("n_now", n_now)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"min_p_value: {label} must be a whole number >= 1, got {n!r}")
    return 1.0 / math.comb(n_base + n_now, n_now)


@dataclass(frozen=True)
class ShiftTest:
    """One side of a two-sample comparison."""

    #: One-sided p-value: the chance of ranks at least this extreme if both sets came from one distribution.
    p_value: float
    #: Mann-Whitney U of ``now`` against ``base``.
    statistic: float
    #: ``exact`` (the exact distribution of U) or ``permutation`` (ties present: rank arrangements counted).
    method: str


def shift_test(base: Sequence[float], now: Sequence[float], alternative: Alternative) -> ShiftTest:
    """One-sided Mann-Whitney U test: is ``now`` stochastically ``greater`` (or ``less``) than ``base``?

    Needs at least two samples a side.  See the module docstring for how the p-value is computed.
    """
    if alternative not in ("greater", "less"):
        raise ValueError(f"shift_test: alternative must be 'greater' or 'less', got {alternative!r}")
    b = check_samples(base, name="base samples", minimum=2)
    n = check_samples(now, name="now samples", minimum=2)
    if len(set(b + n)) == len(b) + len(n):
        result = mannwhitneyu(n, b, alternative=alternative, method="exact")
        method = "exact"
    else:
        permutations = PermutationMethod(n_resamples=PERMUTATIONS, rng=0)
        result = mannwhitneyu(n, b, alternative=alternative, method=permutations)
        method = "permutation"
    return ShiftTest(p_value=float(result.pvalue), statistic=float(result.statistic), method=method)
