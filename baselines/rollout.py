"""Play episodes with a token-level model policy, keeping the exact tokens each episode saw and sampled.

``collect_episodes`` steps every env once per round: the still-running episodes' trajectories are
sampled in one batch (``HFPolicy.sample``), each sample is appended to its trajectory, its text is
the env action, and the env's reply is appended as tokens (``HFPolicy.observe``). Envs that finish
at different turns simply leave the batch. A malformed action is the env's business: it answers
with an observation, never an exception here.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from turngym.agents.trajectory import TokenTrajectory
from turngym.envs.info import StopReason


@dataclass
class EpisodeTokens:
    """One finished episode: its token trajectory and what the env said about each turn.

    ``rewards[t]`` is the env's reward for turn t (the weighted sum of ``reward_parts[t]``);
    ``turn_token_spans[t]`` is the ``[start, end)`` range of turn t's sampled tokens in
    ``trajectory.token_ids``. ``outcome`` is the ``outcome`` reward part of the last turn.
    """

    trajectory: TokenTrajectory
    rewards: list[float]
    outcome: float
    stop_reason: str
    task_id: str
    turn_token_spans: list[tuple[int, int]]
    seed: int | None = None
    reward_parts: list[dict[str, float]] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))

    @property
    def turns(self) -> int:
        return len(self.rewards)

    @property
    def success(self) -> bool:
        return self.outcome > 0

    def add_turn(self, policy: Any, sample: Any, reward: float, parts: dict[str, float]) -> None:
        """Append a sampled turn: its tokens (through ``policy.append``), their span, the env's reward and parts."""
        start = len(self.trajectory)
        policy.append(self.trajectory, sample)
        self.turn_token_spans.append((start, len(self.trajectory)))
        self.rewards.append(float(reward))
        self.reward_parts.append(dict(parts))
        self.finish_reasons.append(sample.finish_reason)
        self.actions.append(sample.text)

    def after_step(self, policy: Any, obs: Any, terminated: bool, truncated: bool, info: Any) -> bool:
        """End the episode (outcome, stop reason) or append the env's reply to the trajectory; True while it runs."""
        if terminated or truncated:
            self.outcome = float(info["reward_parts"].get("outcome", 0.0))
            self.stop_reason = str(info["stop_reason"])
            return False
        policy.observe(self.trajectory, obs)
        return True


def collect_episodes(
    policy: Any,
    envs: Sequence[Any],
    seeds: Sequence[int],
    *,
    max_turns: int,
    generator: torch.Generator | None = None,
    temperature: float | None = None,
) -> list[EpisodeTokens]:
    """Play one episode on each env (``envs[i]`` reset with ``seeds[i]``), all envs in one batch per turn.

    An episode the env has not ended after ``max_turns`` actions stops with ``max_turns``.
    ``temperature`` overrides the policy's sampling temperature (0 for greedy).
    """
    if len(envs) != len(seeds):
        raise ValueError(f"expected one seed per env ({len(envs)}), got {len(seeds)}")
    if max_turns < 1:
        raise ValueError(f"max_turns must be >= 1, got {max_turns}")
    episodes: list[EpisodeTokens] = []
    for env, seed in zip(envs, seeds, strict=True):
        obs, info = env.reset(seed=int(seed))
        episodes.append(
            EpisodeTokens(
                trajectory=policy.start(obs),
                rewards=[],
                outcome=0.0,
                stop_reason="",
                task_id=info["task_id"],
                turn_token_spans=[],
                seed=int(seed),
            )
        )
    running = list(range(len(envs)))
    for _ in range(max_turns):
        if not running:
            break
        samples = _sample(policy, [episodes[i].trajectory for i in running], generator, temperature)
        still_running = []
        for i, sample in zip(running, samples, strict=True):
            obs, reward, terminated, truncated, info = envs[i].step(sample.text)
            episodes[i].add_turn(policy, sample, reward, info["reward_parts"])
            if episodes[i].after_step(policy, obs, terminated, truncated, info):
                still_running.append(i)
        running = still_running
    for i in running:
        episodes[i].stop_reason = str(StopReason.MAX_TURNS)
    return episodes


def _sample(
    policy: Any, trajectories: list[TokenTrajectory], generator: torch.Generator | None, temperature: float | None
) -> list[Any]:
    if temperature is None:
        groups = policy.sample(trajectories, 1, generator=generator)
    elif "temperature" in inspect.signature(policy.sample).parameters:
        groups = policy.sample(trajectories, 1, generator=generator, temperature=temperature)
    else:  # the policy's sampler takes the temperature per call
        groups = policy.sampler.sample([t.token_ids for t in trajectories], 1, generator=generator, temperature=temperature)
    return [group[0] for group in groups]


def rollout_metrics(episodes: Sequence[EpisodeTokens], prefix: str = "rollout") -> dict[str, float]:
    """Means over episodes: success, outcome, total reward, turns, sampled tokens; stop reasons as shares.

    Reward parts are summed per episode and averaged under ``reward/<part>``.
    """
    n = max(len(episodes), 1)
    metrics = {
        f"{prefix}/success": sum(e.success for e in episodes) / n,
        f"{prefix}/outcome": sum(e.outcome for e in episodes) / n,
        f"{prefix}/turns": sum(e.turns for e in episodes) / n,
        f"{prefix}/policy_tokens": sum(e.trajectory.policy_token_count() for e in episodes) / n,
        f"{prefix}/episodes": float(len(episodes)),
    }
    for reason in sorted({e.stop_reason for e in episodes}):
        metrics[f"{prefix}/stop/{reason}"] = sum(e.stop_reason == reason for e in episodes) / n
    if prefix == "rollout":
        metrics["reward/mean"] = sum(e.total_reward for e in episodes) / n
        parts: dict[str, float] = {}
        for e in episodes:
            for turn in e.reward_parts:
                for key, value in turn.items():
                    parts[key] = parts.get(key, 0.0) + value
        metrics.update({f"reward/{k}": v / n for k, v in sorted(parts.items())})
    else:
        metrics[f"{prefix}/reward_mean"] = sum(e.total_reward for e in episodes) / n
    return metrics
