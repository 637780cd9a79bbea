"""Vector env that steps its envs one after another in this process."""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from turngym.envs.errors import ResetNeeded
from turngym.envs.info import StopReason
from turngym.envs.messages import Action
from turngym.envs.vector.base import StepTuple, VectorAgentEnv, error_step


def step_env(env: gym.Env, action: Action) -> StepTuple:
    """Step one env; an exception inside the env becomes an ``error`` step (misuse still raises)."""
    try:
        obs, reward, terminated, truncated, info = env.step(action)
    except ResetNeeded:
        raise
    except Exception:
        state = getattr(env.unwrapped, "state", None)
        if state is not None:
            state.stop_reason = StopReason.ERROR
        return error_step(traceback.format_exc(), *_episode_facts(env))
    core = env.unwrapped
    return obs, reward, terminated, truncated, info, getattr(core, "last_context", None), dict(getattr(core, "step_metrics", {}))


def prefetch_batch(envs: list[gym.Env], actions: list[Action]) -> None:
    """Let each env class do the work its steps share once (``AgentEnv.prefetch_batch``)."""
    groups: dict[type, tuple[list[gym.Env], list[Action]]] = {}
    for env, action in zip(envs, actions, strict=True):
        core = env.unwrapped
        if hasattr(type(core), "prefetch_batch"):
            group = groups.setdefault(type(core), ([], []))
            group[0].append(core)
            group[1].append(action)
    for cls, (members, member_actions) in groups.items():
        try:
            cls.prefetch_batch(members, member_actions)
        except Exception as exc:  # an optimisation only: each step still does its own work
            message = f"{cls.__name__}.prefetch_batch failed ({type(exc).__name__}: {exc}); stepping without it"
            warnings.warn(message, stacklevel=2)


def _episode_facts(env: gym.Env) -> tuple[str, int, int]:
    state = getattr(env.unwrapped, "state", None)
    return (state.task.id, state.turn, state.invalid_actions) if state is not None else ("", 0, 0)


class SyncVectorAgentEnv(VectorAgentEnv):
    """``num_envs`` envs made by ``env_fn`` and stepped sequentially."""

    def __init__(self, env_fn: Callable[[], gym.Env], num_envs: int, autoreset: bool = False):
        super().__init__(num_envs, autoreset)
        self.envs = [env_fn() for _ in range(num_envs)]
        self._made = list(self.envs)  # closed at the end; forks in ``envs`` share their resources

    def _reset_many(self, requests: dict[int, tuple[int | None, dict | None]]) -> dict[int, Any]:
        """Wrapped envs reset one by one (through their wrappers); bare envs of one class together
        (``AgentEnv.reset_batch``: a GUI env's page loads overlap)."""
        results: dict[int, Any] = {}
        groups: dict[type, list[int]] = {}
        for i in requests:
            env = self.envs[i]
            if env is env.unwrapped and hasattr(type(env), "reset_batch"):
                groups.setdefault(type(env), []).append(i)
            else:
                results[i] = env.reset(seed=requests[i][0], options=requests[i][1])
        for cls, members in groups.items():
            batch = cls.reset_batch([self.envs[i] for i in members], [requests[i] for i in members])
            results.update(zip(members, batch, strict=True))
        return {i: results[i] for i in requests}

    def _step_many(self, actions: dict[int, Action]) -> dict[int, StepTuple]:
        prefetch_batch([self.envs[i] for i in actions], list(actions.values()))
        return {i: step_env(self.envs[i], action) for i, action in actions.items()}

    def _call_many(self, requests: dict[int, tuple[str, tuple, dict]]) -> dict[int, Any]:
        return {i: self.envs[i].get_wrapper_attr(name)(*args, **kwargs) for i, (name, args, kwargs) in requests.items()}

    def _fork_many(self, sources: dict[int, list[int]]) -> None:
        replaced = []
        for src, dsts in sources.items():
            fork = getattr(self.envs[src], "fork", None)
            if fork is None:  # a wrapper that does not forward fork() would be dropped by the inner env's
                raise TypeError(f"env {src} ({type(self.envs[src]).__name__}) has no fork(); wrap it with AgentWrapper")
            for dst in dsts:
                replaced.append(self.envs[dst])
                self.envs[dst] = fork()
        for env in replaced:  # an earlier fork now unused: free what it holds (a browser page, say)
            if all(env is not e for e in self._made) and all(env is not e for e in self.envs):
                env.close()

    def close(self) -> None:
        if not self.closed:
            made = list(self._made)
            for env in made + [e for e in self.envs if all(e is not m for m in made)]:
                env.close()
        super().close()
