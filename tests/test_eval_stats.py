"""pass@k, pass^k and the bootstrap intervals: the formulas, brute force over subsets, determinism."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest

from turngym.evaluation.stats import bootstrap, paired_difference, pass_at_k, pass_hat_k


@pytest.mark.parametrize(
    ("n", "c", "k", "at_k", "hat_k"),
    [
        (1, 1, 1, 1.0, 1.0),
        (1, 0, 1, 0.0, 0.0),
        (4, 2, 1, 0.5, 0.5),
        (4, 2, 2, 1 - 1 / 6, 1 / 6),  # C(2,2)/C(4,2) both fail; both succeed likewise
        (5, 1, 3, 3 / 5, 0.0),
        (10, 9, 2, 1.0, 36 / 45),  # n - c < k: some sample must succeed
        (10, 0, 10, 0.0, 0.0),
    ],
)
def test_hand_computed_cases(n, c, k, at_k, hat_k):
    assert pass_at_k(n, c, k) == pytest.approx(at_k)
    assert pass_hat_k(n, c, k) == pytest.approx(hat_k)


def test_random_results_match_brute_force_over_subsets():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = int(rng.integers(1, 9))
        outcomes = [bool(x) for x in rng.integers(0, 2, size=n)]
        c = sum(outcomes)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(outcomes, k))
            assert len(subsets) == comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
            assert pass_hat_k(n, c, k) == pytest.approx(sum(all(s) for s in subsets) / len(subsets))


def test_pass_at_k_is_stable_where_binomials_overflow_floats():
    assert pass_at_k(2000, 3, 1) == pytest.approx(3 / 2000)
    assert 0.0 < pass_at_k(2000, 1, 1000) <= 1.0


@pytest.mark.parametrize(("n", "c", "k"), [(3, 4, 1), (3, 1, 0), (3, 1, 4), (0, 0, 1), (3, -1, 1)])
def test_impossible_counts_are_refused(n, c, k):
    with pytest.raises(ValueError, match="expected 0 <= c <= n and 1 <= k <= n"):
        pass_at_k(n, c, k)
    with pytest.raises(ValueError, match="expected 0 <= c <= n and 1 <= k <= n"):
        pass_hat_k(n, c, k)


def test_bootstrap_interval_holds_the_mean_narrows_with_tasks_and_repeats_with_its_seed():
    rng = np.random.default_rng(1)
    few, many = rng.random(20), rng.random(2000)
    small, large = bootstrap(few), bootstrap(many)
    assert small.low <= small.mean <= small.high and small.mean == pytest.approx(few.mean())
    assert large.high - large.low < (small.high - small.low) / 4
    assert bootstrap(few, seed=3) == bootstrap(few, seed=3)
    assert bootstrap([0.5] * 7).as_dict() == {"mean": 0.5, "low": 0.5, "high": 0.5}


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(200):
        sample = rng.binomial(1, 0.3, size=60).astype(float)
        est = bootstrap(sample, resamples=500, seed=trial)
        covered += est.low <= 0.3 <= est.high
    assert 0.88 <= covered / 200 <= 0.99


def test_bootstrap_refuses_what_is_not_per_task_values():
    with pytest.raises(ValueError, match="non-empty 1-d"):
        bootstrap([])
    with pytest.raises(ValueError, match="level must be in"):
        bootstrap([1.0], level=1.0)


def test_paired_difference_finds_a_real_shift_and_not_noise():
    rng = np.random.default_rng(4)
    base = rng.random(100)
    better = paired_difference(base, base + 0.05 + rng.normal(0, 0.02, 100))
    assert better.significant and better.estimate.low > 0 and better.p_value < 0.01 and better.tasks == 100
    same = paired_difference(base, base.copy())
    assert not same.significant and same.p_value == 1.0
    false_alarms = sum(
        paired_difference(base, base + rng.normal(0, 0.1, 100), resamples=1000, seed=t).significant for t in range(200)
    )
    assert 0.01 <= false_alarms / 200 <= 0.10  # about the 5% a 95% interval allows
    with pytest.raises(ValueError, match="equal length"):
        paired_difference([1.0, 2.0], [1.0])
