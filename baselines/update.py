"""One policy-gradient update on a batch of token trajectories: the step every RL trainer shares.

The trainers differ only in their advantages (one per episode for GRPO, one per token for
REINFORCE with per-turn returns and for step-level GRPO); ``policy_update`` pads the
trajectories, recomputes log-probs with gradients in micro-batches, applies the clipped loss on
the policy's tokens only (``mask == 1``), accumulates gradients weighted by token count (so the
loss is the mean over all policy tokens of the batch) and takes one optimiser step per epoch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch

from turngym.agents.logprobs import pad_batch, sequence_logprobs
from turngym.agents.trajectory import TokenTrajectory
from turngym.baselines.losses import policy_gradient_loss
from turngym.engine.episode import EpisodeTokens


def per_token_advantages(trajectories: Sequence[TokenTrajectory], values: Sequence[Sequence[float]]) -> list[torch.Tensor]:
    """Spread each turn's value over that turn's sampled tokens: ``values[i][t]`` for turn t of trajectory i.

    Turn t's tokens are those from ``turn_starts[t]`` until the next policy turn starts; only the
    masked (sampled) ones matter to the loss.
    """
    out = []
    for traj, turn_values in zip(trajectories, values, strict=True):
        if len(turn_values) != len(traj.turn_starts):
            raise ValueError(f"expected one value per policy turn ({len(traj.turn_starts)}), got {len(turn_values)}")
        adv = torch.zeros(len(traj), dtype=torch.float32)
        bounds = [*traj.turn_starts, len(traj)]
        for t, value in enumerate(turn_values):
            adv[bounds[t] : bounds[t + 1]] = float(value)
        out.append(adv)
    return out


def episode_sequences(
    episodes: Sequence[EpisodeTokens], turn_values: Sequence[Sequence[float]]
) -> tuple[list[TokenTrajectory], list[torch.Tensor]]:
    """Each episode's contexts as training sequences, with ``turn_values[i][t]`` spread over turn t's sampled tokens.

    An episode of one context is one sequence; an env that resets its context (a memory env) gives
    one sequence per context, each turn keeping its own value (an outcome advantage reaches every
    context's turns). Contexts in which the policy took no turn are left out.
    """
    trajectories, values = [], []
    for episode, per_turn in zip(episodes, turn_values, strict=True):
        if len(per_turn) != episode.turns:
            raise ValueError(f"expected one value per turn of the episode ({episode.turns}), got {len(per_turn)}")
        for index, traj in enumerate(episode.trajectories):
            mine = [float(v) for v, c in zip(per_turn, episode.turn_contexts, strict=True) if c == index]
            if mine:
                trajectories.append(traj)
                values.append(mine)
    return trajectories, per_token_advantages(trajectories, values)


def policy_update(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    trajectories: Sequence[TokenTrajectory],
    advantages: torch.Tensor | Sequence[torch.Tensor],
    *,
    pad_id: int,
    temperature: float = 1.0,
    clip_eps: float = 0.2,
    kl_coef: float = 0.0,
    ref_model: torch.nn.Module | Callable[[], contextlib.AbstractContextManager] | None = None,
    ppo_epochs: int = 1,
    micro_batch: int = 64,
    max_grad_norm: float = 1.0,
) -> dict[str, float]:
    """``ppo_epochs`` optimiser steps on ``trajectories``; returns mean ``loss/...`` stats and ``loss/grad_norm``.

    ``advantages`` is a ``[N]`` tensor (one per trajectory) or N per-token tensors (each as long as
    its trajectory). ``ref_model`` gives the KL reference: a frozen model, or a function returning a
    context manager under which ``model`` itself is the reference (a PEFT model's ``disable_adapter``).
    """
    if not trajectories:
        raise ValueError("expected at least one trajectory, got 0")
    device = next(model.parameters()).device
    batches = list(_micro_batches(trajectories, advantages, micro_batch, pad_id, device))
    total_tokens = sum(float(b["mask"].sum()) for b in batches)
    if total_tokens == 0:
        raise ValueError("expected trajectories with sampled tokens (mask == 1), got none")
    if kl_coef > 0:
        if ref_model is None:
            raise ValueError("kl_coef > 0 needs ref_model, got None")
        for b in batches:
            b["ref"] = _reference_logprobs(model, ref_model, b, temperature)
    was_training = model.training
    model.train()
    sums: dict[str, float] = {}
    try:
        for _ in range(ppo_epochs):
            optimizer.zero_grad(set_to_none=True)
            for b in batches:
                new = sequence_logprobs(model, b["ids"], b["attention"], temperature=temperature)
                loss, stats = policy_gradient_loss(
                    new, b["old"], b["adv"], b["mask"], clip_eps=clip_eps, kl_coef=kl_coef, ref_logprobs=b.get("ref")
                )
                share = float(b["mask"].sum()) / total_tokens
                (loss * share).backward()
                for key, value in stats.items():
                    if key != "loss/tokens":
                        sums[key] = sums.get(key, 0.0) + value * share / ppo_epochs
            params = [p for p in model.parameters() if p.requires_grad]
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm if max_grad_norm > 0 else float("inf"))
            sums["loss/grad_norm"] = sums.get("loss/grad_norm", 0.0) + float(grad_norm) / ppo_epochs
            optimizer.step()
    finally:
        model.train(was_training)
    sums["loss/tokens"] = total_tokens
    return sums


def _micro_batches(
    trajectories: Sequence[TokenTrajectory],
    advantages: torch.Tensor | Sequence[torch.Tensor],
    size: int,
    pad_id: int,
    device: torch.device,
) -> Iterator[dict[str, torch.Tensor]]:
    per_token = not isinstance(advantages, torch.Tensor)
    if len(advantages) != len(trajectories):
        raise ValueError(f"expected one advantage entry per trajectory ({len(trajectories)}), got {len(advantages)}")
    for start in range(0, len(trajectories), size):
        chunk = trajectories[start : start + size]
        ids, attention = pad_batch([t.token_ids for t in chunk], pad_id, device=device)
        width = ids.shape[1]
        mask = torch.zeros(len(chunk), width, device=device)
        old = torch.zeros(len(chunk), width, device=device)
        for row, t in enumerate(chunk):
            mask[row, : len(t)] = torch.tensor(t.mask, dtype=torch.float32)
            old[row, : len(t)] = torch.tensor(t.logprobs, dtype=torch.float32)
        if per_token:
            adv = torch.zeros(len(chunk), width, device=device)
            for row, (t, a) in enumerate(zip(chunk, advantages[start : start + size], strict=True)):
                if len(a) != len(t):
                    raise ValueError(f"expected a per-token advantage for each of {len(t)} tokens, got {len(a)}")
                adv[row, : len(t)] = torch.as_tensor(a, dtype=torch.float32)
        else:
            adv = advantages[start : start + size].to(device=device, dtype=torch.float32)
        yield {"ids": ids, "attention": attention, "mask": mask, "old": old, "adv": adv}


@torch.no_grad()
def _reference_logprobs(
    model: torch.nn.Module,
    ref: torch.nn.Module | Callable[[], contextlib.AbstractContextManager],
    batch: dict[str, torch.Tensor],
    temperature: float,
) -> torch.Tensor:
    if isinstance(ref, torch.nn.Module):
        return sequence_logprobs(ref, batch["ids"], batch["attention"], temperature=temperature)
    with ref():
        return sequence_logprobs(model, batch["ids"], batch["attention"], temperature=temperature)
