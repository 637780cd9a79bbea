"""Advantage estimators: group-relative (GRPO), discounted returns, return batch normalisation (ReBN).

Each takes plain lists or tensors and returns a float32 tensor; none touches a model.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch


def _as_tensor(values: torch.Tensor | Sequence[float], name: str) -> torch.Tensor:
    tensor = torch.as_tensor(values, dtype=torch.float32)
    if tensor.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite, got {tensor.tolist()}")
    return tensor


def group_advantages(
    rewards: torch.Tensor | Sequence[float],
    group_ids: Sequence[Hashable] | torch.Tensor,
    *,
    normalize_std: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """GRPO advantages: each reward minus the mean of its group, divided by the group's std when asked.

    ``group_ids[i]`` names the group of ``rewards[i]`` (episodes of the same task). The std is the
    population std (ddof 0), so a group of one and a group whose rewards are all equal get
    advantage 0, never NaN. Advantages of a group sum to 0.

    >>> [round(a, 3) for a in group_advantages([1.0, 0.0, 3.0, 3.0], ["a", "a", "b", "b"]).tolist()]
    [1.0, -1.0, 0.0, 0.0]
    """
    values = _as_tensor(rewards, "rewards")
    ids = group_ids.tolist() if isinstance(group_ids, torch.Tensor) else list(group_ids)
    if len(ids) != len(values):
        raise ValueError(f"expected one group id per reward ({len(values)}), got {len(ids)}")
    index: dict[Hashable, int] = {}
    groups = torch.tensor([index.setdefault(g, len(index)) for g in ids], dtype=torch.long)
    n = len(index)
    values64 = values.double()  # float32 means of tied non-round rewards (0.4 x 8) are off by an ulp
    counts = torch.zeros(n, dtype=torch.float64).index_add_(0, groups, torch.ones_like(values64))
    means = torch.zeros(n, dtype=torch.float64).index_add_(0, groups, values64) / counts
    highs = torch.full((n,), -torch.inf, dtype=torch.float64).scatter_reduce_(0, groups, values64, "amax")
    lows = torch.full((n,), torch.inf, dtype=torch.float64).scatter_reduce_(0, groups, values64, "amin")
    tied = (highs == lows)[groups]
    centred = torch.where(tied, torch.zeros_like(values64), values64 - means[groups])
    if not normalize_std:
        return centred.float()
    variances = torch.zeros(n, dtype=torch.float64).index_add_(0, groups, centred**2) / counts
    return (centred / (variances.sqrt()[groups] + eps)).float()


def discounted_returns(rewards_per_turn: torch.Tensor | Sequence[float], gamma: float) -> torch.Tensor:
    """``G_t = r_t + gamma * G_{t+1}`` for one episode's per-turn rewards.

    >>> discounted_returns([0.0, 0.0, 1.0], 0.5).tolist()
    [0.25, 0.5, 1.0]
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    rewards = _as_tensor(rewards_per_turn, "rewards_per_turn")
    returns = torch.empty_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + gamma * running
        returns[t] = running
    return returns


def rebn(returns: torch.Tensor | Sequence[float], *, eps: float = 1e-6) -> torch.Tensor:
    """Return batch normalisation (GEM's ReBN): the batch's returns shifted to mean 0 and scaled to std 1.

    The std is the population std; a batch of equal returns gives zeros.
    """
    values = _as_tensor(returns, "returns")
    if len(values) == 0:
        return values
    centred = values - values.mean()
    return centred / (centred.pow(2).mean().sqrt() + eps)
