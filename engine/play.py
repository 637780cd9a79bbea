"""The rollout engine: the one loop that plays envs, for ``turngym rollout``, evaluation, benches and every trainer.

``Engine(vec, policy)`` plays a vector env (sync or process) with a policy. Each round, the running
episodes' next actions are sampled in one batched call, the vector env is stepped once with all
of them (so an env class's ``prefetch_batch`` does their shared work once: one batched retrieval
for all queries), model-based hooks score the whole step in one batch, and each env's reply is
appended to its trajectory. ``play`` yields whole episodes; ``branch`` forks each running episode
k ways at every turn and returns the k siblings of each decision point (step-level trainers).
Trainers differ only in how they branch and how they turn rewards into advantages.

>>> import turngym
>>> from turngym.agents import OraclePolicy
>>> with turngym.make_vec("turngym/GuessNumber-v0", 2, high=8) as vec:
...     episodes = Engine(vec, OraclePolicy()).play(seeds=[0, 1, 2])
>>> [(e.seed, e.stop_reason, e.success) for e in episodes]
[(0, 'answered', True), (1, 'answered', True), (2, 'answered', True)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from turngym.agents.base import EnvAwarePolicy, MessagePolicy, Policy, PolicyOutput, TokenPolicy, as_token_policy, output_sample
from turngym.agents.trajectory import Sample, TokenTrajectory
from turngym.engine.episode import EpisodeTokens
from turngym.envs.hooks.base import as_hooks
from turngym.envs.info import StopReason
from turngym.envs.vector.base import VecStep, VectorAgentEnv


@dataclass
class StepGroup:
    """k siblings sampled from one state: the prefix they share and what each candidate got.

    ``rewards`` are the env's step rewards (``score`` applied, see ``Engine.branch``); siblings whose
    step broke the env (``errors[j]`` set) are reported and left out of training.
    """

    task_id: str
    turn: int
    prefix: list[int]  # the trajectory's tokens before the step (prompt, earlier turns, env replies)
    samples: list[Sample]
    parts: list[dict[str, float]]
    rewards: list[float]
    ended: list[bool]
    errors: list[str | None] = field(default_factory=list)
    advantages: list[float] = field(default_factory=list)
    chosen: int = 0  # the sibling the episode continued from

    @property
    def ok(self) -> list[int]:
        """The siblings whose step did not break the env."""
        return [j for j, e in enumerate(self.errors) if e is None]


@dataclass
class BranchRollout:
    groups: list[StepGroup]
    episodes: list[EpisodeTokens]  # the continued paths, as ordinary episodes (for metrics)

    @property
    def sampled_tokens(self) -> int:
        return sum(len(s.token_ids) for g in self.groups for s in g.samples)


Chooser = Callable[[StepGroup, np.random.Generator], int]
Scorer = Callable[[float, dict[str, float], int], float]


class Engine:
    """Plays ``vec`` with ``policy`` (a ``TokenPolicy``, an ``act_batch`` policy, or an env-aware oracle).

    Arguments:
        hooks: process-reward hooks scored over each vector step in one batch (model-based judges);
            their parts join ``reward_parts`` by the one rule (``add_parts``), weighted by the env's
            ``reward_weights``. Cheap rule hooks can live in the env instead (``process_rewards=``).
        stop: strings that end an action; None takes the env's (``AgentEnv.stop_strings``).
        max_turns: stop an episode after this many actions even if the env has not (``max_turns``).
    """

    def __init__(
        self,
        vec: VectorAgentEnv,
        policy: TokenPolicy | Policy | EnvAwarePolicy,
        *,
        hooks: Sequence[Any] = (),
        stop: Sequence[str] | None = None,
        max_turns: int | None = None,
    ):
        if max_turns is not None and (not isinstance(max_turns, int) or max_turns < 1):
            raise ValueError(f"max_turns must be an int >= 1 or None, got {max_turns!r}")
        self.vec = vec
        self.oracle = policy if isinstance(policy, EnvAwarePolicy) and not isinstance(policy, TokenPolicy) else None
        self.policy: TokenPolicy = as_token_policy(policy) if self.oracle is None else _OracleTrajectories()
        self.hooks = as_hooks(hooks)
        self.max_turns = max_turns
        self.stop = tuple(stop) if stop is not None else tuple(vec.get_attr("stop_strings", indices=[0])[0])
        self.reward_weights: dict[str, float] = dict(vec.get_attr("reward_weights", indices=[0])[0])

    # ---- whole episodes ------------------------------------------------------------------------
    def play(
        self,
        seeds: Iterable[int],
        *,
        generator: Any = None,
        temperature: float | None = None,
        on_episode: Callable[[EpisodeTokens], None] | None = None,
        retry_errors: int = 0,
    ) -> list[EpisodeTokens]:
        """One episode per seed, in seed order; all envs of the vector env run at once, refilled as episodes end.

        ``temperature`` overrides the policy's sampling temperature (0: greedy). ``retry_errors``: a
        seed whose episode ends with ``stop_reason="error"`` (a broken env, a lost worker or node)
        is played again, up to this many times; ``on_episode`` sees every episode, the broken ones
        too, and the result holds each seed's last.
        """
        if not isinstance(retry_errors, int) or retry_errors < 0:
            raise ValueError(f"retry_errors must be an int >= 0, got {retry_errors!r}")
        seeds = [int(s) for s in seeds]
        queue = [(order, seed, 0) for order, seed in reversed(list(enumerate(seeds)))]
        results: list[EpisodeTokens | None] = [None] * len(seeds)
        running: dict[int, tuple[int, EpisodeTokens, int]] = {}

        def start(slots: Iterable[int]) -> None:
            chosen = {slot: queue.pop() for slot in slots if queue}
            if chosen:
                obs, infos = self.vec.reset(indices=list(chosen), seed=[seed for _, seed, _ in chosen.values()])
                for slot, (order, seed, tries) in chosen.items():
                    running[slot] = (order, EpisodeTokens.begin(self.policy.start(obs[slot]), infos[slot], seed), tries)

        start(range(self.vec.num_envs))
        while running:
            slots = sorted(running)
            samples = self._sample(slots, [running[s][1].trajectory for s in slots], 1, generator, temperature)
            step = self._step({slot: group[0].action for slot, group in zip(slots, samples, strict=True)})
            ended = []
            for slot, group in zip(slots, samples, strict=True):
                order, episode, tries = running[slot]
                if not self._advance(episode, slot, group[0], step):
                    results[order] = episode
                    del running[slot]
                    ended.append(slot)
                    if episode.stop_reason == StopReason.ERROR and tries < retry_errors:
                        queue.append((order, episode.seed, tries + 1))  # played next
                    if on_episode is not None:
                        on_episode(episode)
            start(ended)
        return [e for e in results if e is not None]

    # ---- k siblings at every turn --------------------------------------------------------------
    def branch(
        self,
        seeds: Sequence[int],
        *,
        k: int,
        choose: Chooser,
        score: Scorer | None = None,
        rng: np.random.Generator | None = None,
        generator: Any = None,
    ) -> BranchRollout:
        """One episode per seed that branches k ways at every turn; the vector env needs ``k * len(seeds)`` envs.

        Per turn: k candidates of every running episode in one ``sample`` call; the episode's env is
        forked into its k - 1 spare envs (``vec.fork``); all candidates step in one vector step
        (batched retrieval, batched hooks); ``score(reward, parts, turn)`` turns each env reward into
        the sibling's reward (default: as is); ``choose(group, rng)`` picks the sibling each episode
        continues from, among those whose step did not break the env.
        """
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        seeds = [int(s) for s in seeds]
        if self.vec.num_envs < k * len(seeds):
            raise ValueError(
                f"branching {len(seeds)} episodes {k} ways needs {k * len(seeds)} envs, the vector env has {self.vec.num_envs}"
            )
        rng = rng if rng is not None else np.random.default_rng(0)
        blocks = [list(range(e * k, (e + 1) * k)) for e in range(len(seeds))]
        source = [block[0] for block in blocks]
        obs, infos = self.vec.reset(indices=source, seed=seeds)
        episodes = [EpisodeTokens.begin(self.policy.start(obs[s]), infos[s], seed) for s, seed in zip(source, seeds, strict=True)]
        groups: list[StepGroup] = []
        running = list(range(len(seeds)))
        turn = 0
        while running and (self.max_turns is None or turn < self.max_turns):
            turn += 1
            candidates = self._sample([source[e] for e in running], [episodes[e].trajectory for e in running], k, generator, None)
            self.vec.fork({source[e]: [s for s in blocks[e] if s != source[e]] for e in running})
            step = self._step(
                {blocks[e][j]: cands[j].action for e, cands in zip(running, candidates, strict=True) for j in range(k)}
            )
            still_running = []
            for e, cands in zip(running, candidates, strict=True):
                group = self._group(episodes[e], turn, cands, blocks[e], step, score)
                groups.append(group)
                group.chosen = j = choose(group, rng) if group.ok else 0
                source[e] = blocks[e][j]
                if self._advance(episodes[e], source[e], cands[j], step):
                    still_running.append(e)
            running = still_running
        for e in running:
            episodes[e].stop_reason = str(StopReason.MAX_TURNS)
        return BranchRollout(groups, episodes)

    # ---- the shared pieces -----------------------------------------------------------------------
    def _sample(
        self, slots: list[int], trajs: list[TokenTrajectory], k: int, generator: Any, temperature: float | None
    ) -> list[list[Sample]]:
        if self.oracle is not None:
            actions = self.oracle.act_envs(self.vec, slots)
            return [[_action_sample(actions[s]) for _ in range(k)] for s in slots]
        groups = self.policy.sample(trajs, k, generator=generator, temperature=temperature, stop=self.stop)
        if len(groups) != len(trajs) or any(len(g) != k for g in groups):
            raise ValueError(f"the policy returned {[len(g) for g in groups]} samples for {len(trajs)} trajectories x {k}")
        return groups

    def _step(self, actions: dict[int, Any]) -> VecStep:
        step = self.vec.step(actions)
        if self.hooks:
            step.add_process_rewards(self.hooks, self.reward_weights)
        return step

    def _advance(self, episode: EpisodeTokens, slot: int, sample: Sample, step: VecStep) -> bool:
        """Record the slot's step in the episode; False when the episode ended (by the env or ``max_turns``)."""
        info = step.infos[slot]
        episode.add_turn(self.policy, sample, step.rewards[slot], info["reward_parts"], step.metrics[slot])
        if not episode.after_step(self.policy, step.obs[slot], step.terminated[slot], step.truncated[slot], info):
            return False
        if self.max_turns is not None and episode.turns >= self.max_turns:
            episode.stop_reason = str(StopReason.MAX_TURNS)
            return False
        return True

    def _group(
        self, episode: EpisodeTokens, turn: int, cands: list[Sample], block: list[int], step: VecStep, score: Scorer | None
    ) -> StepGroup:
        parts = [dict(step.infos[s]["reward_parts"]) for s in block]
        rewards = [float(step.rewards[s]) for s in block]
        if score is not None:
            rewards = [score(r, p, turn) for r, p in zip(rewards, parts, strict=True)]
        errors = [
            str(step.infos[s]["error"] or "error") if step.infos[s]["stop_reason"] == StopReason.ERROR else None for s in block
        ]
        ended = [bool(step.terminated[s] or step.truncated[s]) for s in block]
        prefix = list(episode.trajectory.token_ids)
        return StepGroup(episode.task_id, turn, prefix, list(cands), parts, rewards, ended, errors)


class _OracleTrajectories(MessagePolicy):
    """Trajectories of messages for an env-aware policy, which reads the envs rather than the conversation."""

    def __init__(self) -> None:
        super().__init__(None)


def _action_sample(action: Any) -> Sample:
    return output_sample(PolicyOutput(action))


def play_episodes(
    vec: VectorAgentEnv, policy: TokenPolicy | Policy | EnvAwarePolicy, episodes: int, seed: int = 0, **kwargs: Any
) -> list[EpisodeTokens]:
    """``episodes`` episodes (episode n uses seed ``seed + n``) with ``Engine(vec, policy).play``."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    on_episode = kwargs.pop("on_episode", None)
    return Engine(vec, policy, **kwargs).play(range(seed, seed + episodes), on_episode=on_episode)
