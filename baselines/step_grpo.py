"""Step-level GRPO with truncated sampling (SLATE): k siblings per decision point, each scored as a step.

Each optimiser step plays ``tasks_per_step * group_size`` episodes with ``Engine.branch``: at every
turn of every running episode the env is forked k ways, k candidate next actions are sampled in one
batched call (each trajectory's prefix encoded once and shared by its k rows), all forks step in one
vector step, and each candidate gets a step reward: the env's reward (its reward parts, process
hooks in the env and the config's ``process_rewards`` scored in one batch over all forks, weighted
by the env's ``reward_weights``), with the outcome counted ``gamma ** (turn - 1)``. Advantages are
group-relative among the k siblings only, so they are isolated to one decision point. The k
(prefix, candidate tokens, old log-probs, advantage) go to the clipped loss, which trains on the
candidate tokens only. The episode then continues from one sibling (``continue_from``) and the next
turn branches again. Siblings whose step broke the env are reported and left out of their group.

Read top to bottom: ``StepGRPOConfig``, ``step_reward``, ``choose_sibling``, ``sibling_advantages``,
``sample_step_groups`` (the rollout), ``candidate_trajectories`` (the loss's view), ``train_step_grpo`` (the loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import torch

from turngym.agents.trajectory import TokenTrajectory
from turngym.baselines.advantages import group_advantages
from turngym.baselines.config import ConfigError, RLConfig, _check, doc
from turngym.baselines.run import TrainingRun
from turngym.engine import BranchRollout, Engine, StepGroup, rollout_metrics

ContinueFrom = Literal["best", "random", "sampled"]


@dataclass
class StepGRPOConfig(RLConfig):
    """Step-level GRPO: k sibling next steps from each state, group-relative advantages among siblings."""

    k: int = doc(4, "Candidate next steps sampled from each state (one group of siblings per decision point).")
    group_size: int = doc(1, "Episodes per task; each branches k ways at every turn.")
    gamma: float = doc(
        1.0, "A step that ends the episode at turn t adds gamma ** (t - 1) * outcome (below 1: earlier is better)."
    )
    continue_from: ContinueFrom = doc(
        "random",
        "Sibling to continue from: best (highest step reward), random (a policy sample), sampled (softmax of rewards).",
    )
    continue_temperature: float = doc(0.5, "Temperature of the softmax over step rewards when continue_from is sampled.")
    normalize_std: bool = doc(True, "Divide sibling advantages by the group's std.")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.k >= 2, "k", "an int >= 2 (siblings are compared with each other)", self.k)
        _check(0 <= self.gamma <= 1, "gamma", "a float in [0, 1]", self.gamma)
        _check(self.continue_temperature > 0, "continue_temperature", "a float > 0", self.continue_temperature)


def step_reward(reward: float, parts: Mapping[str, float], turn: int, *, gamma: float, outcome_weight: float = 1.0) -> float:
    """A sibling's step reward: the env's reward with its outcome part (if any) discounted by ``gamma ** (turn - 1)``."""
    outcome = parts.get("outcome", 0.0)
    return reward + (gamma ** (turn - 1) - 1.0) * outcome_weight * outcome


def choose_sibling(rewards: Sequence[float], how: ContinueFrom, rng: np.random.Generator, temperature: float = 0.5) -> int:
    """The sibling to continue from: the best (first among ties), a uniform draw, or a softmax draw over rewards."""
    if how == "best":
        return int(np.argmax(rewards))
    if how == "random":
        return int(rng.integers(len(rewards)))
    if how == "sampled":
        logits = np.asarray(rewards, dtype=np.float64) / temperature
        probs = np.exp(logits - logits.max())
        return int(rng.choice(len(rewards), p=probs / probs.sum()))
    raise ConfigError(f"continue_from: expected one of best, random, sampled, got {how!r}")


def sibling_advantages(groups: Sequence[StepGroup], *, normalize_std: bool = True) -> None:
    """Set each group's advantages: group-relative among its siblings; a sibling that broke the env gets 0."""
    ok = [(g, j) for g, group in enumerate(groups) for j in group.ok]
    values = (
        group_advantages([groups[g].rewards[j] for g, j in ok], [g for g, _ in ok], normalize_std=normalize_std) if ok else []
    )
    for group in groups:
        group.advantages = [0.0] * len(group.samples)
    for (g, j), value in zip(ok, [float(v) for v in values], strict=True):
        groups[g].advantages[j] = value


def sample_step_groups(
    engine: Engine,
    seeds: Sequence[int],
    *,
    k: int,
    gamma: float = 1.0,
    continue_from: ContinueFrom = "random",
    continue_temperature: float = 0.5,
    normalize_std: bool = True,
    rng: np.random.Generator | None = None,
    generator: torch.Generator | None = None,
) -> BranchRollout:
    """One episode per seed branching k siblings at every turn (``Engine.branch``), with sibling advantages set.

    Each sibling's reward is its step reward (``step_reward``); each episode continues from the
    sibling ``choose_sibling`` picks among those whose step did not break the env.
    """
    outcome_weight = engine.reward_weights.get("outcome", 1.0)

    def choose(group: StepGroup, rng: np.random.Generator) -> int:
        return group.ok[choose_sibling([group.rewards[j] for j in group.ok], continue_from, rng, continue_temperature)]

    rollout = engine.branch(
        seeds,
        k=k,
        score=partial(step_reward, gamma=gamma, outcome_weight=outcome_weight),
        choose=choose,
        rng=rng,
        generator=generator,
    )
    sibling_advantages(rollout.groups, normalize_std=normalize_std)
    return rollout


def candidate_trajectories(groups: Sequence[StepGroup], *, skip_zero: bool = True) -> tuple[list[TokenTrajectory], torch.Tensor]:
    """One trajectory per candidate, prefix (mask 0) + candidate tokens (mask 1, sampling log-probs), and its advantage.

    The loss thus trains on the candidate's tokens only; earlier turns are trained in their own groups.
    Candidates with advantage 0 (all siblings scored alike) carry no gradient and are left out.
    """
    trajectories, advantages = [], []
    for group in groups:
        for sample, advantage in zip(group.samples, group.advantages, strict=True):
            if skip_zero and advantage == 0.0:
                continue
            n = len(sample.token_ids)
            trajectories.append(
                TokenTrajectory(
                    token_ids=group.prefix + list(sample.token_ids),
                    mask=[0] * len(group.prefix) + [1] * n,
                    logprobs=[0.0] * len(group.prefix) + [float(x) for x in sample.logprobs],
                )
            )
            advantages.append(advantage)
    return trajectories, torch.tensor(advantages, dtype=torch.float32)


def train_step_grpo(
    config: StepGRPOConfig,
    *,
    hooks: Sequence[Any] = (),
    resume: bool = True,
    on_log: Callable[[int, dict], None] | None = None,
) -> dict[str, Any]:
    """Train with step-level GRPO; ``hooks`` adds hook objects (e.g. an ``LLMJudge``) to the named ones.

    Returns the last step's metrics (``{}`` when the run was already complete).
    """
    run = TrainingRun(config, resume=resume, on_log=on_log, hooks=list(hooks))
    last: dict[str, Any] = {}
    for step in run.steps():
        # 1. rollouts: every turn of every episode branches k ways; one episode continues per branch point
        seeds = [seed for seed in run.task_seeds(step, config.tasks_per_step) for _ in range(config.group_size)]
        run.model.eval()
        rollout = sample_step_groups(
            run.engine(len(seeds) * config.k),
            seeds,
            k=config.k,
            gamma=config.gamma,
            continue_from=config.continue_from,
            continue_temperature=config.continue_temperature,
            normalize_std=config.normalize_std,
            rng=np.random.default_rng([config.seed, step]),
            generator=run.generator,
        )
        run.report_errors(rollout.episodes)

        # 2. the loss's batch: each candidate's tokens after its shared prefix, with its sibling advantage
        trajectories, advantages = candidate_trajectories(rollout.groups)

        # 3. update: clipped policy gradient on the candidate tokens only
        stats: dict[str, float] = {}
        if trajectories:
            stats = run.update(trajectories, advantages)
        groups = rollout.groups
        zero = sum(all(a == 0.0 for a in g.advantages) for g in groups)
        metrics = {
            **rollout_metrics(rollout.episodes),
            **stats,
            "rollout/step_groups": float(len(groups)),
            "rollout/zero_advantage_groups": zero / max(len(groups), 1),
            "rollout/sampled_tokens": float(rollout.sampled_tokens),
            "rollout/sibling_errors": float(sum(len(g.samples) - len(g.ok) for g in groups)),
            "reward/step_mean": float(np.mean([r for g in groups for r in g.rewards])) if groups else math.nan,
        }
        last = run.end_step(step, metrics)
    run.close()
    return last
