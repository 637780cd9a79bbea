"""Multi-turn, trajectory-level GRPO.

Each step: draw ``tasks_per_step`` task seeds, play ``group_size`` episodes of each (every turn of
every running episode sampled in one batch), score each episode by its total reward, take
group-relative advantages (reward minus the group's mean, over its std), and run the clipped
policy-gradient loss on the policy's own tokens (env tokens masked), optionally with a KL penalty
to the frozen initial model, for ``ppo_epochs`` gradient steps whose old log-probs are the sampling
log-probs. Episodes that broke the env (``stop_reason="error"``) are reported and left out: their
group is compared among the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turngym.baselines.advantages import group_advantages
from turngym.baselines.config import GRPOConfig
from turngym.baselines.run import TrainingRun
from turngym.baselines.update import episode_sequences
from turngym.engine import rollout_metrics


def train_grpo(config: GRPOConfig, *, resume: bool = True, on_log: Callable[[int, dict], None] | None = None) -> dict[str, Any]:
    """Train with GRPO; returns the last step's metrics (``{}`` when the run was already complete)."""
    run = TrainingRun(config, resume=resume, on_log=on_log)
    last: dict[str, Any] = {}
    for step in run.steps():
        # 1. rollouts: G episodes of each task, all envs stepped together
        tasks = run.task_seeds(step, config.tasks_per_step)
        seeds = [seed for seed in tasks for _ in range(config.group_size)]
        episodes = run.collect(seeds)

        # 2. advantages: each episode's total reward against its group's (episodes that broke the env left out)
        kept = [e for e in episodes if e.trainable]
        groups = [e.seed for e in kept]
        advantages = group_advantages([e.total_reward for e in kept], groups, normalize_std=config.normalize_std)

        # 3. update: clipped policy gradient on the sampled tokens only (every context of an episode shares its advantage)
        sequences, per_token = episode_sequences(kept, [[a] * e.turns for e, a in zip(kept, advantages.tolist(), strict=True)])
        stats = run.update(sequences, per_token) if sequences else {}
        flat = {g for g in groups} - {g for g, a in zip(groups, advantages.tolist(), strict=True) if a != 0.0}
        metrics = {**rollout_metrics(episodes), **stats, "rollout/zero_advantage_groups": len(flat) / max(len(set(groups)), 1)}
        last = run.end_step(step, metrics)
    run.close()
    return last
