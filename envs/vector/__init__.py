"""Vector envs over Python lists: sync (in process), process (one worker per env) and ray (env groups in Ray actors)."""

from __future__ import annotations

import dataclasses
from typing import Any

from turngym.envs.vector.base import VecStep, VectorAgentEnv, error_step
from turngym.envs.vector.process import ProcessVectorAgentEnv, WorkerDied
from turngym.envs.vector.sync import SyncVectorAgentEnv

MODES = ("sync", "process", "ray")


def make_vec(
    env_id: str,
    num_envs: int,
    *,
    mode: str = "sync",
    autoreset: bool = False,
    record_to: str | None = None,
    step_timeout: float | None = None,
    ray: dict[str, Any] | None = None,
    **kwargs: Any,
) -> VectorAgentEnv:
    """``num_envs`` copies of ``env_id`` made with ``kwargs``; ``mode`` is ``"sync"``, ``"process"`` or ``"ray"``.

    ``ray`` (mode ``"ray"`` only): ``RayVectorAgentEnv`` options, e.g. ``{"address": "auto", "num_actors": 8}``.

    >>> import turngym
    >>> vec = turngym.make_vec("turngym/GuessNumber-v0", 2, high=10)
    >>> obs, infos = vec.reset(seed=0)
    >>> step = vec.step({1: "<guess>5</guess>"})
    >>> list(step.obs)
    [1]
    """
    from turngym.envs.registration import make, spec

    env_spec = spec(env_id)
    if ray is not None and mode != "ray":
        raise ValueError(f"ray options apply to mode='ray', got mode={mode!r}")
    if mode == "sync":
        return SyncVectorAgentEnv(lambda: make(env_id, record_to=record_to, **kwargs), num_envs, autoreset)
    if mode == "process":
        merged = dataclasses.replace(env_spec, kwargs={**env_spec.kwargs, **kwargs})
        return ProcessVectorAgentEnv(merged, num_envs, autoreset, step_timeout=step_timeout, record_to=record_to)
    if mode == "ray":
        from turngym.envs.vector.ray import RayVectorAgentEnv

        merged = dataclasses.replace(env_spec, kwargs={**env_spec.kwargs, **kwargs})
        return RayVectorAgentEnv(merged, num_envs, autoreset, step_timeout=step_timeout, record_to=record_to, **(ray or {}))
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


__all__ = [
    "MODES",
    "ProcessVectorAgentEnv",
    "SyncVectorAgentEnv",
    "VecStep",
    "VectorAgentEnv",
    "WorkerDied",
    "error_step",
    "make_vec",
]
