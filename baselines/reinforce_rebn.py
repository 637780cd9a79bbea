"""REINFORCE with per-turn discounted returns and return batch normalisation (GEM's ReBN baseline).

Each step: play ``tasks_per_step * group_size`` episodes, compute each turn's discounted return
``G_t = r_t + gamma * G_{t+1}`` from the env's per-turn rewards, normalise all the batch's turn
returns to mean 0 and std 1 (ReBN), and weight every sampled token of turn t by its normalised
return in the clipped policy-gradient loss (plain REINFORCE when ``ppo_epochs == 1``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turngym.baselines.advantages import discounted_returns, rebn
from turngym.baselines.config import ReinforceConfig
from turngym.baselines.run import TrainingRun
from turngym.baselines.update import episode_sequences
from turngym.engine import rollout_metrics


def train_reinforce_rebn(
    config: ReinforceConfig, *, resume: bool = True, on_log: Callable[[int, dict], None] | None = None
) -> dict[str, Any]:
    """Train with REINFORCE + ReBN; returns the last step's metrics (``{}`` when the run was already complete)."""
    run = TrainingRun(config, resume=resume, on_log=on_log)
    last: dict[str, Any] = {}
    for step in run.steps():
        # 1. rollouts
        tasks = run.task_seeds(step, config.tasks_per_step)
        episodes = run.collect([seed for seed in tasks for _ in range(config.group_size)])
        kept = [e for e in episodes if e.trainable]  # episodes that broke the env are reported, not trained on

        # 2. per-turn returns, normalised over every turn of the batch
        returns = [discounted_returns(e.rewards, config.gamma) for e in kept]
        flat = rebn([float(g) for episode_returns in returns for g in episode_returns])
        per_turn, start = [], 0
        for episode_returns in returns:
            per_turn.append(flat[start : start + len(episode_returns)].tolist())
            start += len(episode_returns)
        trajectories, advantages = episode_sequences(kept, per_turn)

        # 3. update: each turn's tokens weighted by its normalised return
        stats = run.update(trajectories, advantages) if trajectories else {}
        returns_mean = sum(float(r.mean()) for r in returns if len(r)) / max(len(returns), 1)
        last = run.end_step(step, {**rollout_metrics(episodes), **stats, "reward/return_mean": returns_mean})
    run.close()
    return last
