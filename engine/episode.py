"""One played episode as the engine saw it, and the metrics of a batch of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from turngym.agents.trajectory import Sample, TokenTrajectory
from turngym.envs.info import StopReason
from turngym.envs.messages import Message


@dataclass
class EpisodeTokens:
    """One finished episode: its token trajectory and what the env said about each turn.

    ``rewards[t]`` is the env's reward for turn t (the weighted sum of ``reward_parts[t]``);
    ``turn_token_spans[t]`` is the ``[start, end)`` range of turn t's sampled tokens in the token
    ids of its context, ``trajectories[turn_contexts[t]]``. An env that resets its context (a memory
    env's next chunk, ``info["new_context"]``) starts a new trajectory: ``contexts`` holds the
    finished ones, ``trajectory`` the current one, and each is trained on as its own sequence.
    ``step_metrics[t]`` are the env's wall-clock figures of turn t (retrieval seconds...).
    ``outcome`` is the ``outcome`` reward part of the last turn. ``error`` holds the env's or
    worker's error when the episode ended with ``stop_reason="error"``: such an episode is
    reported and kept out of training (``trainable``).
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
    step_metrics: list[dict[str, float]] = field(default_factory=list)
    error: str | None = None
    contexts: list[TokenTrajectory] = field(default_factory=list)
    turn_contexts: list[int] = field(default_factory=list)

    @classmethod
    def begin(cls, trajectory: TokenTrajectory, info: Mapping[str, Any], seed: int | None) -> EpisodeTokens:
        """A new episode after ``reset`` (its info names the task)."""
        return cls(trajectory, [], 0.0, "", str(info["task_id"]), [], seed=None if seed is None else int(seed))

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))

    @property
    def turns(self) -> int:
        return len(self.rewards)

    @property
    def success(self) -> bool:
        return self.outcome > 0

    @property
    def trainable(self) -> bool:
        """False for an episode the env, its tools or its worker broke (``stop_reason="error"``)."""
        return self.stop_reason != StopReason.ERROR

    @property
    def trajectories(self) -> list[TokenTrajectory]:
        """One token trajectory per context, in order (one unless the env reset its context)."""
        return [*self.contexts, self.trajectory]

    @property
    def conversation(self) -> list[Message]:
        """Every message of the episode, its contexts one after another."""
        return [m for traj in self.trajectories for m in traj.messages]

    def policy_token_count(self) -> int:
        """Tokens the policy sampled, over all contexts."""
        return sum(traj.policy_token_count() for traj in self.trajectories)

    def part_totals(self) -> dict[str, float]:
        """Each reward part summed over the episode's turns."""
        totals: dict[str, float] = {}
        for turn in self.reward_parts:
            for key, value in turn.items():
                totals[key] = totals.get(key, 0.0) + value
        return totals

    def add_turn(
        self, policy: Any, sample: Sample, reward: float, parts: Mapping[str, float], metrics: Mapping[str, float] | None = None
    ) -> None:
        """Append a sampled turn: its tokens (through ``policy.append``), their span, the env's reward, parts and metrics."""
        start = len(self.trajectory)
        policy.append(self.trajectory, sample)
        self.turn_token_spans.append((start, len(self.trajectory)))
        self.turn_contexts.append(len(self.contexts))
        self.rewards.append(float(reward))
        self.reward_parts.append(dict(parts))
        self.finish_reasons.append(sample.finish_reason)
        self.actions.append(sample.text)
        self.step_metrics.append(dict(metrics or {}))

    def after_step(self, policy: Any, obs: Any, terminated: bool, truncated: bool, info: Mapping[str, Any]) -> bool:
        """End the episode (outcome, stop reason, error), or append the env's reply to the trajectory (or start a new
        trajectory when the reply is a new context); True while it runs."""
        if terminated or truncated:
            self.outcome = float(info["reward_parts"].get("outcome", 0.0))
            self.stop_reason = str(info["stop_reason"])
            if self.stop_reason == StopReason.ERROR:
                self.error = str(info.get("error") or "the env reported an error")
            self.trajectory.messages.extend(obs)  # the last reply, for records (no tokens: nothing follows)
            return False
        if info.get("new_context"):
            self.contexts.append(self.trajectory)
            self.trajectory = policy.start(obs)
        else:
            policy.observe(self.trajectory, obs)
        return True


def rollout_metrics(episodes: Sequence[EpisodeTokens], prefix: str = "rollout") -> dict[str, float]:
    """Means over episodes: success, outcome, total reward, turns, sampled tokens; stop reasons as shares.

    Reward parts are summed per episode and averaged under ``reward/<part>``; the env's step metrics
    (``retrieval_s``...) are averaged per step under ``env/<name>``.
    """
    n = max(len(episodes), 1)
    metrics = {
        f"{prefix}/success": sum(e.success for e in episodes) / n,
        f"{prefix}/outcome": sum(e.outcome for e in episodes) / n,
        f"{prefix}/turns": sum(e.turns for e in episodes) / n,
        f"{prefix}/policy_tokens": sum(e.policy_token_count() for e in episodes) / n,
        f"{prefix}/contexts": sum(len(e.contexts) + 1 for e in episodes) / n,
        f"{prefix}/episodes": float(len(episodes)),
        f"{prefix}/errors": float(sum(not e.trainable for e in episodes)),
    }
    for reason in sorted({e.stop_reason for e in episodes}):
        metrics[f"{prefix}/stop/{reason}"] = sum(e.stop_reason == reason for e in episodes) / n
    if prefix == "rollout":
        metrics["reward/mean"] = sum(e.total_reward for e in episodes) / n
        parts: dict[str, float] = {}
        for e in episodes:
            for key, value in e.part_totals().items():
                parts[key] = parts.get(key, 0.0) + value
        metrics.update({f"reward/{k}": v / n for k, v in sorted(parts.items())})
        steps = [m for e in episodes for m in e.step_metrics]
        names = sorted({k for m in steps for k in m})
        metrics.update({f"env/{k}": sum(m.get(k, 0.0) for m in steps) / max(len(steps), 1) for k in names})
    else:
        metrics[f"{prefix}/reward_mean"] = sum(e.total_reward for e in episodes) / n
    return metrics
