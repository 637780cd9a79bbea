"""pass@k, pass^k and bootstrap confidence intervals over tasks.

>>> round(pass_at_k(n=10, c=3, k=1), 6), round(pass_hat_k(n=10, c=3, k=2), 6)
(0.3, 0.066667)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import comb

import numpy as np


def _check(n: int, c: int, k: int) -> None:
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"expected 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k samples drawn from n (c correct) is correct: 1 - C(n-c, k) / C(n, k).

    Computed in the stable product form 1 - prod_{i=n-c+1}^{n} (1 - k / i) (Chen et al. 2021).
    """
    _check(n, c, k)
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Chance that all k samples drawn from n (c correct) are correct: C(c, k) / C(n, k) (tau-bench's pass^k)."""
    _check(n, c, k)
    return comb(c, k) / comb(n, k)


@dataclass(frozen=True)
class Estimate:
    """A mean over tasks with a bootstrap percentile interval (``level`` of 0.95: the 2.5th to 97.5th percentile)."""

    mean: float
    low: float
    high: float
    level: float = 0.95

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high}

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap(
    values: Sequence[float] | np.ndarray,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Estimate:
    """The mean of per-task ``values`` with a percentile interval from resampling tasks with replacement.

    ``statistic`` maps a (resamples, tasks) array to one value per resample (default: the row mean).
    The same values and seed give the same interval.
    """
    data = np.asarray(values, dtype=float)
    if data.ndim != 1 or len(data) == 0:
        raise ValueError(f"expected a non-empty 1-d sequence of per-task values, got shape {data.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    statistic = statistic or (lambda a: a.mean(axis=1))
    rng = np.random.default_rng(seed)
    draws = statistic(data[rng.integers(0, len(data), size=(resamples, len(data)))])
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Estimate(float(statistic(data[None, :])[0]), float(low), float(high), level)


@dataclass(frozen=True)
class Difference:
    """B minus A over the tasks both ran, with a paired bootstrap interval; significant when it excludes 0."""

    estimate: Estimate
    tasks: int
    p_value: float  # two-sided, from the bootstrap distribution's share on the other side of 0

    @property
    def significant(self) -> bool:
        return self.estimate.low > 0 or self.estimate.high < 0


def paired_difference(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10000, level: float = 0.95, seed: int = 0
) -> Difference:
    """The mean of ``b - a`` over paired tasks, resampling tasks (pairs stay together)."""
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"expected paired per-task values of equal length, got {len(a_arr)} and {len(b_arr)}")
    diffs = b_arr - a_arr
    estimate = bootstrap(diffs, resamples=resamples, level=level, seed=seed)
    rng = np.random.default_rng(seed)
    draws = diffs[rng.integers(0, len(diffs), size=(resamples, len(diffs)))].mean(axis=1)
    ties = float(np.mean(draws == 0)) / 2
    p_value = min(1.0, 2 * (min(float(np.mean(draws < 0)), float(np.mean(draws > 0))) + ties))
    return Difference(estimate, len(diffs), p_value)
