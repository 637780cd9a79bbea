"""Advantage estimators: group-relative, discounted returns, ReBN."""

from __future__ import annotations

import doctest

import pytest
import torch

from turngym.baselines import advantages
from turngym.baselines.advantages import discounted_returns, group_advantages, rebn


def test_group_advantages_sum_to_zero_per_group_and_have_unit_std():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.2, 0.9, 0.3])
    groups = [0, 0, 0, 0, 1, 1, 1, 1]
    adv = group_advantages(rewards, groups)
    for g in (0, 1):
        part = adv[torch.tensor(groups) == g]
        assert abs(float(part.sum())) < 1e-5
        assert float(part.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)


def test_group_advantages_by_hand_without_std():
    adv = group_advantages([3.0, 1.0, 2.0, 10.0], ["x", "y", "x", "y"], normalize_std=False)
    assert adv.tolist() == pytest.approx([0.5, -4.5, -0.5, 4.5])


def test_group_advantages_with_std_by_hand():
    adv = group_advantages([1.0, 0.0, 0.0, 0.0], [7, 7, 7, 7], eps=0.0)
    mean, std = 0.25, (0.75**2 / 4 + 3 * 0.25**2 / 4) ** 0.5
    assert adv.tolist() == pytest.approx([(1 - mean) / std] + [(0 - mean) / std] * 3)


def test_zero_variance_groups_and_singletons_give_zero_not_nan():
    adv = group_advantages([1.0, 1.0, 1.0, 0.0, 0.0, 5.0], [0, 0, 0, 1, 1, 2])
    assert torch.isfinite(adv).all()
    assert adv.tolist() == [0.0] * 6


def test_group_advantages_reject_bad_input():
    with pytest.raises(ValueError, match="one group id per reward"):
        group_advantages([1.0, 2.0], [0])
    with pytest.raises(ValueError, match="finite"):
        group_advantages([float("nan")], [0])
    with pytest.raises(ValueError, match="one-dimensional"):
        group_advantages([[1.0]], [0])


def test_discounted_returns_by_hand():
    returns = discounted_returns([1.0, 0.0, 2.0, -1.0], 0.9)
    expected = [1 + 0.9 * (0 + 0.9 * (2 + 0.9 * -1)), 0 + 0.9 * (2 + 0.9 * -1), 2 + 0.9 * -1, -1.0]
    assert returns.tolist() == pytest.approx(expected)
    assert discounted_returns([1.0, 1.0, 1.0], 1.0).tolist() == [3.0, 2.0, 1.0]
    assert discounted_returns([1.0, 1.0], 0.0).tolist() == [1.0, 1.0]
    assert discounted_returns([], 0.9).tolist() == []
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns([1.0], 1.5)


def test_rebn_mean_zero_std_one():
    out = rebn(torch.tensor([0.0, 1.0, 5.0, 2.0, 2.0]))
    assert float(out.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(out.std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)
    assert rebn([3.0, 3.0]).tolist() == [0.0, 0.0]
    assert rebn([]).tolist() == []


def test_docstring_examples_run():
    result = doctest.testmod(advantages)
    assert result.attempted > 0 and result.failed == 0


def test_tied_groups_of_non_round_rewards_get_exactly_zero():
    from turngym.baselines.advantages import group_advantages

    for value in (0.4, 0.1, 1 / 3, -2.7):
        for normalize_std in (True, False):
            advantages = group_advantages([value] * 8 + [0.0, 1.0], [0] * 8 + [1, 1], normalize_std=normalize_std)
            assert advantages[:8].tolist() == [0.0] * 8
            assert advantages[8] < 0 < advantages[9]
