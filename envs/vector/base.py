"""The vector-env interface shared by the sync, process (and later Ray) backends.

Text does not stack, so results are Python containers: stepping all envs with a list of actions
returns lists; stepping a subset with ``{index: action}`` returns dicts keyed by the same indices
(ragged multi-turn episodes). Autoreset is explicit: with ``autoreset=True`` an env that ends is
reset in the same call, its final observation and info stay in the step result, and the new
episode's first observation and info arrive in ``reset_obs`` / ``reset_infos``. ``fork({src: [dst,
...]})`` copies the running episode of env ``src`` into envs ``dst`` (the rollout engine branches
k next steps from one state this way).
"""

from __future__ import annotations

import abc
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from turngym.envs.errors import ResetNeeded
from turngym.envs.hooks.base import StepContext, add_parts, as_hooks, score_steps
from turngym.envs.info import StepInfo, StopReason, make_step_info
from turngym.envs.messages import Action, Message, user_message

StepTuple = tuple[list[Message], float, bool, bool, StepInfo, StepContext | None, dict[str, float]]


@dataclass
class VecStep:
    """One vector step. Each field is a list (all envs stepped) or a dict keyed by env index."""

    obs: Any
    rewards: Any
    terminated: Any
    truncated: Any
    infos: Any
    contexts: Any
    metrics: Any  # each env's ``step_metrics`` (wall-clock figures such as retrieval seconds)
    reset_obs: dict[int, list[Message]] = field(default_factory=dict)
    reset_infos: dict[int, StepInfo] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        """``obs, rewards, terminated, truncated, infos = vec.step(actions)``."""
        return iter((self.obs, self.rewards, self.terminated, self.truncated, self.infos))

    def indices(self) -> list[int]:
        return list(self.obs) if isinstance(self.obs, dict) else list(range(len(self.obs)))

    def add_process_rewards(self, hooks: Sequence[Any], weights: Mapping[str, float] | None = None) -> None:
        """Score every step with ``hooks`` in one batch per hook; add the parts to infos and rewards.

        This is where model-based hooks run: once for the whole batch, not once per env. Parts are
        added by ``add_parts`` (the one rule: a part the env already set is an error; the reward
        grows by the parts weighted with ``weights``, which should be the env's ``reward_weights``).
        """
        idx = [i for i in self.indices() if self.contexts[i] is not None]
        all_parts = score_steps(as_hooks(hooks), [self.contexts[i] for i in idx])
        for i, parts in zip(idx, all_parts, strict=False):
            self.rewards[i] = add_parts(self.infos[i]["reward_parts"], self.rewards[i], parts, weights or {})


def error_step(message: str, task_id: str = "", turn: int = 0, invalid_actions: int = 0) -> StepTuple:
    """The step reported when an env or its worker failed: truncated, ``stop_reason="error"``."""
    info = make_step_info(
        task_id=task_id,
        turn=turn,
        reward_parts={"outcome": 0.0},
        tool_calls=[],
        invalid_actions=invalid_actions,
        error=message,
        stop_reason=StopReason.ERROR,
    )
    last_line = next((line for line in reversed(message.splitlines()) if line.strip()), "unknown error")
    obs = [user_message(f"The environment failed and the episode ends: {last_line[:300]}")]
    return obs, 0.0, False, True, info, None, {}


class VectorAgentEnv(abc.ABC):
    """``num_envs`` copies of one env, stepped together or in any subset."""

    def __init__(self, num_envs: int, autoreset: bool = False):
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        self.num_envs = num_envs
        self.autoreset = autoreset
        self.closed = False
        # envs whose episode ended (or never started): stepping them raises ResetNeeded up front,
        # before any env is stepped, so that a bad call never advances the other envs
        self._needs_reset: set[int] = set(range(num_envs))

    # ---- backend primitives ----
    @abc.abstractmethod
    def _reset_many(self, requests: dict[int, tuple[int | None, dict | None]]) -> dict[int, tuple[list[Message], StepInfo]]:
        """Reset each env ``i`` with ``(seed, options)``."""

    @abc.abstractmethod
    def _step_many(self, actions: dict[int, Action]) -> dict[int, StepTuple]:
        """Step each env ``i``; a failed env answers with ``error_step``."""

    @abc.abstractmethod
    def _call_many(self, requests: dict[int, tuple[str, tuple, dict]]) -> dict[int, Any]:
        """Call a method of each env ``i`` and return the results."""

    @abc.abstractmethod
    def _fork_many(self, sources: dict[int, list[int]]) -> None:
        """Make each env ``dst`` in ``sources[src]`` a fork of env ``src``'s running episode."""

    # ---- the interface ----
    def _fork_by_export(self, sources: dict[int, list[int]], where: str) -> None:
        """``_fork_many`` for envs in other processes (``where``): the source's episode travels as
        ``AgentEnv.export_episode()`` (its state and RNGs) to each destination's ``import_episode``.
        Needs ``record_to`` and ``_last`` (the last step per env) on the subclass."""
        if getattr(self, "record_to", None) is not None:
            raise TypeError(f"cannot fork recorded envs across {where}; use mode='sync' to record branching rollouts")
        snapshots = self._call_many({src: ("export_episode", (), {}) for src in sources})
        self._call_many({dst: ("import_episode", (snapshots[src],), {}) for src, dsts in sources.items() for dst in dsts})
        for src, dsts in sources.items():
            for dst in dsts:
                self._last[dst] = self._last[src]

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
        indices: Sequence[int] | None = None,
    ) -> tuple[Any, Any]:
        """Reset all envs (lists back) or ``indices`` (dicts back). An int seed gives env i ``seed + i``."""
        self._check_open()
        chosen = list(range(self.num_envs)) if indices is None else self._check_indices(indices)
        if seed is None or _is_int(seed):
            seeds = {i: None if seed is None else int(seed) + i for i in chosen}
        elif isinstance(seed, Iterable) and not isinstance(seed, (str, bytes, Mapping)):
            seed = list(seed)
            if len(seed) != len(chosen):
                raise ValueError(f"expected {len(chosen)} seeds (one per env reset), got {len(seed)}")
            bad = [s for s in seed if s is not None and not _is_int(s)]
            if bad:
                raise TypeError(f"seeds must be ints or None, got {bad}")
            seeds = {i: None if s is None else int(s) for i, s in zip(chosen, seed, strict=True)}
        else:
            raise TypeError(f"seed must be an int, a list of ints (one per env reset) or None, got {type(seed).__name__}")
        self._needs_reset.update(chosen)  # until the reset succeeds
        results = self._reset_many({i: (seeds[i], options) for i in chosen})
        self._needs_reset.difference_update(chosen)
        obs = {i: results[i][0] for i in chosen}
        infos = {i: results[i][1] for i in chosen}
        return (obs, infos) if indices is not None else ([obs[i] for i in chosen], [infos[i] for i in chosen])

    def step(self, actions: Sequence[Action] | Mapping[int, Action]) -> VecStep:
        """Step every env (a list of ``num_envs`` actions) or a subset (``{index: action}``)."""
        self._check_open()
        if isinstance(actions, Mapping):
            chosen = dict(zip(self._check_indices(list(actions)), actions.values(), strict=True))
        elif isinstance(actions, (list, tuple)):
            if len(actions) != self.num_envs:
                raise ValueError(
                    f"expected {self.num_envs} actions (one per env) or a dict {{index: action}}, got {len(actions)}"
                )
            chosen = dict(enumerate(actions))
        else:
            raise TypeError(f"expected a list of actions or a dict {{index: action}}, got {type(actions).__name__}")
        stale = sorted(i for i in chosen if i in self._needs_reset)
        if stale:
            raise ResetNeeded(
                f"envs {stale} have no running episode (it ended or never started); "
                f"call reset(indices={stale}) before stepping them (no env was stepped)"
            )
        results = self._step_many(chosen)
        ended = [i for i in chosen if results[i][2] or results[i][3]]
        self._needs_reset.update(ended)
        reset_obs, reset_infos = {}, {}
        if self.autoreset and ended:
            for i, (obs, info) in self._reset_many({i: (None, None) for i in ended}).items():
                reset_obs[i], reset_infos[i] = obs, info
            self._needs_reset.difference_update(ended)
        fields = [{i: results[i][k] for i in chosen} for k in range(7)]
        if not isinstance(actions, Mapping):
            fields = [[f[i] for i in chosen] for f in fields]
        return VecStep(*fields, reset_obs=reset_obs, reset_infos=reset_infos)

    def call(self, name: str, *args: Any, indices: Sequence[int] | None = None, **kwargs: Any) -> Any:
        """Call ``env.name(*args, **kwargs)`` on every env (a list back) or on ``indices`` (a dict back).

        Reset and step through ``reset`` and ``step``, not ``call``: the vector env keeps track of
        which envs have a running episode.
        """
        self._check_open()
        chosen = list(range(self.num_envs)) if indices is None else self._check_indices(indices)
        results = self._call_many({i: (name, args, kwargs) for i in chosen})
        return {i: results[i] for i in chosen} if indices is not None else [results[i] for i in chosen]

    def get_attr(self, name: str, indices: Sequence[int] | None = None) -> Any:
        """The attribute ``name`` of every env (a list back) or of ``indices`` (a dict back), through wrappers."""
        return self.call("get_wrapper_attr", name, indices=indices)

    def fork(self, sources: Mapping[int, Sequence[int]]) -> None:
        """Copy the running episode of each env ``src`` into the envs ``sources[src]`` (their own episodes end).

        Each destination continues independently of its source (``AgentEnv.fork``); afterwards it
        needs no reset. A source must have a running episode; sources and destinations must not overlap.
        """
        self._check_open()
        srcs = self._check_indices(list(sources))
        plan = {s: self._check_indices(list(sources[s])) for s in srcs}
        dsts = [d for ds in plan.values() for d in ds]
        if len(set(dsts)) != len(dsts) or set(dsts) & set(srcs):
            raise ValueError(f"fork destinations must be distinct and not sources, got {dict(plan)}")
        stale = sorted(s for s in srcs if s in self._needs_reset)
        if stale:
            raise ResetNeeded(f"envs {stale} have no running episode to fork; reset them first (nothing was forked)")
        if dsts:
            self._needs_reset.update(dsts)  # until the fork succeeds
            self._fork_many({s: ds for s, ds in plan.items() if ds})
            self._needs_reset.difference_update(dsts)

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> VectorAgentEnv:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"{type(self).__name__} is closed")

    def _check_indices(self, indices: Sequence[int]) -> list[int]:
        if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
            raise TypeError(f"indices must be a sequence of ints, got {type(indices).__name__}")
        indices = list(indices)
        bad = [i for i in indices if not _is_int(i) or not 0 <= i < self.num_envs]
        if bad:
            raise IndexError(f"env indices must be ints in [0, {self.num_envs}), got {bad}")
        indices = [int(i) for i in indices]
        if len(set(indices)) != len(indices):
            raise ValueError(f"env indices must be unique, got {indices}")
        return indices


def _is_int(value: Any) -> bool:
    """An int or a numpy integer, but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
