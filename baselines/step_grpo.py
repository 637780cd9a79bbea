"""Step-level GRPO with truncated sampling (SLATE): k siblings per decision point, each scored as a step.

Each optimiser step plays ``tasks_per_step * group_size`` episodes. At every turn of every running
episode the env is forked k times, k candidate next actions are sampled in one batched call (each
trajectory's prefix encoded once and shared by its k rows), each fork is stepped with its
candidate, and each candidate gets a step reward: the env's reward parts (process-reward hooks run
inside the env, plus ``outcome`` when the step ends the episode), the parts of hooks scored outside
the env in one batch over all forks of the turn (an LLM judge), weighted; the outcome counts
``gamma ** (turn - 1)``. Advantages are group-relative among the k siblings only, so they are
isolated to one decision point. The k (prefix, candidate tokens, old log-probs, advantage) go to the
clipped loss, which trains on the candidate tokens only. The episode then continues from one sibling
(``continue_from``) and the next turn branches again.

Read top to bottom: ``StepGRPOConfig``, ``make_hooks``, ``step_reward``, ``sample_step_groups`` (the
rollout), ``candidate_trajectories`` (the loss's view), ``train_step_grpo`` (the loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from turngym.agents.sampler import Sample
from turngym.agents.trajectory import TokenTrajectory
from turngym.baselines.advantages import group_advantages
from turngym.baselines.config import ConfigError, RLConfig, _check, doc
from turngym.baselines.rollout import EpisodeTokens, rollout_metrics
from turngym.baselines.run import TrainingRun
from turngym.envs.errors import HookError
from turngym.envs.hooks.base import Hook, as_hooks, score_steps, weighted_sum
from turngym.envs.info import StopReason

ContinueFrom = Literal["best", "random", "sampled"]
HOOK_NAMES = ("judge", "format", "valid_tool_call", "repeat", "turn_cost")


@dataclass
class StepGRPOConfig(RLConfig):
    """Step-level GRPO: k sibling next steps from each state, group-relative advantages among siblings."""

    k: int = doc(4, "Candidate next steps sampled from each state (one group of siblings per decision point).")
    group_size: int = doc(1, "Episodes per task; each branches k ways at every turn.")
    process_rewards: list[str] = doc(
        [], f"Hooks scored outside the env, one batch per turn over all forks: any of {list(HOOK_NAMES)}."
    )
    reward_weights: dict[str, float] = doc({}, "Weight per reward part or hook name, over the env's own weights (outcome too).")
    gamma: float = doc(
        1.0, "A step that ends the episode at turn t adds gamma ** (t - 1) * outcome (below 1: earlier is better)."
    )
    continue_from: ContinueFrom = doc(
        "random",
        "Sibling to continue from: best (highest step reward), random (a policy sample), sampled (softmax of rewards).",
    )
    continue_temperature: float = doc(0.5, "Temperature of the softmax over step rewards when continue_from is sampled.")
    normalize_std: bool = doc(True, "Divide sibling advantages by the group's std.")
    judge_model: str = doc("", "Judge hook: a local HF model folder, or the model name served at judge_url.")
    judge_url: str = doc("", "Judge hook: base URL of an OpenAI-compatible server (empty: judge_model is a local folder).")
    judge_rubric: str = doc("", "Judge hook: the rubric (empty: the default 0-10 rubric).")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.k >= 2, "k", "an int >= 2 (siblings are compared with each other)", self.k)
        _check(0 <= self.gamma <= 1, "gamma", "a float in [0, 1]", self.gamma)
        _check(self.continue_temperature > 0, "continue_temperature", "a float > 0", self.continue_temperature)
        for name in self.process_rewards:
            _check(name in HOOK_NAMES, "process_rewards", f"names from {list(HOOK_NAMES)}", self.process_rewards)
        if "judge" in self.process_rewards:
            _check(
                bool(self.judge_model),
                "judge_model",
                "a model folder or served model name when 'judge' is used",
                self.judge_model,
            )


def make_hooks(config: StepGRPOConfig) -> list[Hook]:
    """The hooks named in ``config.process_rewards`` (the judge from ``judge_url`` / ``judge_model``)."""
    from turngym.envs.hooks import FormatReward, LLMJudge, RepeatPenalty, TurnCost, ValidToolCall
    from turngym.envs.hooks.judge import DEFAULT_RUBRIC

    hooks: list[Any] = []
    for name in config.process_rewards:
        if name == "judge":
            rubric = config.judge_rubric or DEFAULT_RUBRIC
            if config.judge_url:
                hooks.append(LLMJudge.from_endpoint(config.judge_url, config.judge_model, rubric=rubric))
            else:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(config.judge_model, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(config.judge_model, local_files_only=True).to(config.device).eval()
                hooks.append(LLMJudge.from_hf(model, tokenizer, rubric=rubric))
        else:
            hooks.append(
                {"format": FormatReward, "valid_tool_call": ValidToolCall, "repeat": RepeatPenalty, "turn_cost": TurnCost}[name]()
            )
    return hooks


def step_reward(parts: Mapping[str, float], weights: Mapping[str, float], turn: int, gamma: float) -> float:
    """A sibling's step reward: the weighted parts, the outcome (if any) discounted by ``gamma ** (turn - 1)``."""
    if "outcome" in parts:
        parts = {**parts, "outcome": parts["outcome"] * gamma ** (turn - 1)}
    return weighted_sum(parts, weights)


@dataclass
class StepGroup:
    """k siblings sampled from one state: the prefix they share and what each candidate got."""

    task_id: str
    turn: int
    prefix: list[int]  # the trajectory's tokens before the step (prompt, earlier turns, env replies)
    samples: list[Sample]
    parts: list[dict[str, float]]
    rewards: list[float]
    ended: list[bool]
    advantages: list[float] = field(default_factory=list)
    chosen: int = 0  # the sibling the episode continued from


@dataclass
class StepRollout:
    groups: list[StepGroup]
    episodes: list[EpisodeTokens]  # the continued paths, as ordinary episodes (for metrics)

    @property
    def sampled_tokens(self) -> int:
        return sum(len(s.token_ids) for g in self.groups for s in g.samples)


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


def sample_step_groups(
    policy: Any,
    envs: Sequence[Any],
    seeds: Sequence[int],
    *,
    k: int,
    max_turns: int,
    hooks: Sequence[Any] = (),
    weights: Mapping[str, float] | None = None,
    gamma: float = 1.0,
    continue_from: ContinueFrom = "random",
    continue_temperature: float = 0.5,
    normalize_std: bool = True,
    rng: np.random.Generator | None = None,
    generator: torch.Generator | None = None,
) -> StepRollout:
    """Play one episode per env (reset with its seed), branching k siblings at every turn.

    Per turn: one ``policy.sample(trajs, k)`` for all running episodes, k ``fork()``s per env,
    each fork stepped with its candidate, ``hooks`` scored in one batch over all forks, advantages
    among each state's k siblings; each episode continues from one sibling's fork.
    """
    hooks = as_hooks(hooks)
    rng = rng if rng is not None else np.random.default_rng(0)
    envs = list(envs)
    episodes, groups = [], []
    for env, seed in zip(envs, seeds, strict=True):
        obs, info = env.reset(seed=int(seed))
        episodes.append(EpisodeTokens(policy.start(obs), [], 0.0, "", info["task_id"], [], seed=int(seed)))
    running = list(range(len(envs)))
    for turn in range(1, max_turns + 1):
        if not running:
            break
        # 1. k candidates per running episode, one batched call (shared-prefix KV cache)
        candidates = policy.sample([episodes[i].trajectory for i in running], k, generator=generator)
        # 2. step k forks of each env; score hooks kept outside the env in one batch over all forks
        forks = [[envs[i].fork() for _ in range(k)] for i in running]
        results = [
            [fork.step(s.text) for fork, s in zip(row, cands, strict=True)] for row, cands in zip(forks, candidates, strict=True)
        ]
        contexts = [fork.last_context for row in forks for fork in row]
        outside = iter(score_steps(hooks, contexts))
        turn_groups = []
        for i, row, cands, outs in zip(running, forks, candidates, results, strict=True):
            parts = []
            for out in outs:
                own, extra = dict(out[4]["reward_parts"]), next(outside)
                clash = sorted(set(own) & set(extra))
                if clash:
                    raise HookError(f"process reward parts {clash} are set by the env and by a hook given to the trainer")
                parts.append({**own, **extra})
            all_weights = {**row[0].reward_weights, **(weights or {})}
            rewards = [step_reward(p, all_weights, turn, gamma) for p in parts]
            ended = [bool(out[2] or out[3]) for out in outs]
            prefix = list(episodes[i].trajectory.token_ids)
            turn_groups.append(StepGroup(episodes[i].task_id, turn, prefix, list(cands), parts, rewards, ended))
        # 3. advantages among the k siblings of each state
        flat = [r for g in turn_groups for r in g.rewards]
        advantages = group_advantages(flat, [g for g in range(len(turn_groups)) for _ in range(k)], normalize_std=normalize_std)
        # 4. continue each episode from one sibling
        still_running = []
        for g, (i, group, row, outs) in enumerate(zip(running, turn_groups, forks, results, strict=True)):
            group.advantages = advantages[g * k : (g + 1) * k].tolist()  # siblings that all scored alike get 0
            group.chosen = j = choose_sibling(group.rewards, continue_from, rng, continue_temperature)
            obs, _reward, terminated, truncated, info = outs[j]
            episodes[i].add_turn(policy, group.samples[j], group.rewards[j], group.parts[j])
            envs[i] = row[j]
            if episodes[i].after_step(policy, obs, terminated, truncated, info):
                still_running.append(i)
        groups.extend(turn_groups)
        running = still_running
    for i in running:
        episodes[i].stop_reason = str(StopReason.MAX_TURNS)
    return StepRollout(groups, episodes)


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
    run = TrainingRun(config, resume=resume, on_log=on_log)
    all_hooks = [*make_hooks(config), *hooks]
    last: dict[str, Any] = {}
    for step in run.steps():
        # 1. rollouts: every turn of every episode branches k ways; one episode continues per branch point
        seeds = [seed for seed in run.task_seeds(step, config.tasks_per_step) for _ in range(config.group_size)]
        run.model.eval()
        rollout = sample_step_groups(
            run.policy,
            run.train_envs(len(seeds)),
            seeds,
            k=config.k,
            max_turns=config.max_turns,
            hooks=all_hooks,
            weights=config.reward_weights,
            gamma=config.gamma,
            continue_from=config.continue_from,
            continue_temperature=config.continue_temperature,
            normalize_std=config.normalize_std,
            rng=np.random.default_rng([config.seed, step]),
            generator=run.generator,
        )

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
            "reward/step_mean": float(np.mean([r for g in groups for r in g.rewards])) if groups else math.nan,
        }
        last = run.end_step(step, metrics)
    run.close()
    return last
