"""turngym envs as SkyRL-Gym text envs, so skyrl-train's generator trains on them.

``register_all()`` puts every turngym ID (``turngym/GuessNumber-v0``, ...) in skyrl-gym's registry;
``skyrl_gym.make(id, env_config=..., extras=...)`` then returns a ``TurngymTextEnv``. skyrl-train
drives it as it drives its own envs: ``init(prompt)``, ``step(text)`` until ``done``, ``close()``.

- ``env_config``: ``turngym.make`` keyword arguments (skyrl-train passes
  ``environment.skyrl_gym.<env_class>`` from its config).
- ``extras``: the dataset row without ``prompt`` and ``env_class``; its ``seed`` picks the task.
  skyrl-train also puts ``generator.max_turns`` there as ``max_turns``; it sets the env's
  ``max_turns`` unless ``env_config`` does.

``dataset_rows(env_id, seeds)`` builds the rows of a skyrl-train dataset (parquet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from numbers import Integral
from typing import Any

try:
    import skyrl_gym
    from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput, ConversationType
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("turngym.adapters.skyrl needs skyrl-gym: pip install 'turngym[adapters]'") from exc

import turngym
from turngym.envs.errors import EnvArgumentError, ResetNeeded
from turngym.envs.registration import registered_ids, spec
from turngym.envs.vector.sync import step_env

ENTRY_POINT = "turngym.adapters.skyrl:TurngymTextEnv"


class TurngymTextEnv(BaseTextEnv):
    """One turngym env behind skyrl-gym's ``BaseTextEnv`` API.

    ``init(prompt)`` resets the turngym env with ``extras["seed"]`` and returns the env's own
    reset messages (system prompt with tools and format, then the task): they replace the dataset
    prompt, which ``dataset_rows`` fills with the same messages for prompt-length filtering.
    ``step(text)`` returns the env's reply messages as ``observations``, the step's reward,
    ``done`` (terminated or truncated) and ``metadata`` (``task_id``, ``turn``, ``reward_parts``,
    ``stop_reason``, ``error``, ``terminated``, ``truncated``). A malformed action is an error
    observation and the episode goes on, as in turngym. The wrapped env is ``self.env``.
    """

    def __init__(self, env_config: Mapping[str, Any] | None = None, extras: Mapping[str, Any] | None = None, *, env_id: str):
        super().__init__()
        extras = dict(extras or {})
        kwargs = _env_kwargs(env_id, env_config)
        if "max_turns" in extras and "max_turns" not in kwargs:
            kwargs["max_turns"] = extras["max_turns"]
        self.env_id = env_id
        self.seed = _seed(env_id, extras)
        self.env = turngym.make(env_id, **kwargs)
        self.max_turns = self.env.unwrapped.max_turns  # BaseTextEnv's attribute, for callers that read it
        self.last_info: Mapping[str, Any] = {}

    def init(self, prompt: ConversationType | None = None) -> tuple[ConversationType, dict[str, Any]]:
        """Reset with the row's seed; the env's messages replace ``prompt`` (see the class docstring)."""
        messages, info = self.env.reset(seed=self.seed)
        self.turns, self.last_info = 0, info
        return messages, {"task_id": info["task_id"], "seed": self.seed}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        if not self.last_info:
            raise ResetNeeded(f"{self.env_id}: call init() before step()")
        messages, reward, terminated, truncated, info, *_ = step_env(self.env, action)  # a broken env: stop_reason "error"
        self.turns, self.last_info = info["turn"], info
        stop = info["stop_reason"]
        metadata = {
            "task_id": info["task_id"],
            "turn": info["turn"],
            "reward_parts": dict(info["reward_parts"]),
            "stop_reason": None if stop is None else str(stop),
            "error": info["error"],
            "terminated": terminated,
            "truncated": truncated,
            "trainable": stop != "error",  # a broken env (stop_reason "error"): report it, leave it out of training
        }
        return BaseTextEnvStepOutput(observations=messages, reward=float(reward), done=terminated or truncated, metadata=metadata)

    def get_metrics(self) -> dict[str, Any]:
        """Episode metrics skyrl-train averages per env class: turns, invalid actions, tool failure rate, outcome."""
        info = self.last_info
        if not info:
            return {}
        metrics = {"turns": info["turn"], "invalid_actions": info["invalid_actions"]}
        metrics["tools/failure_rate"] = info["tools/failure_rate"]
        if "outcome" in info["reward_parts"]:
            metrics["outcome"] = info["reward_parts"]["outcome"]
        return metrics

    def close(self) -> None:
        self.env.close()


def register_all(env_ids: Iterable[str] | None = None) -> list[str]:
    """Register turngym IDs (default: every registered one) in skyrl-gym's registry; returns them.

    Calling it again is a no-op; an ID that skyrl-gym already holds for another env is an error.
    """
    ids = list(registered_ids() if env_ids is None else env_ids)
    for env_id in ids:
        spec(env_id)  # an unknown ID raises, naming close matches
        held = skyrl_gym.registry.get(env_id)
        if held is None:
            skyrl_gym.register(id=env_id, entry_point=ENTRY_POINT, kwargs={"env_id": env_id})
        elif held.entry_point != ENTRY_POINT:
            raise EnvArgumentError(f"skyrl-gym already registers {env_id!r} for {held.entry_point!r}, not turngym")
    return ids


def dataset_rows(env_id: str, seeds: Iterable[int], **env_kwargs: Any) -> list[dict[str, Any]]:
    """skyrl-train dataset rows, one per seed: ``prompt`` (the env's reset messages), ``env_class``
    (the ID), ``seed`` and ``data_source`` (the ID); every key but the first two reaches the env as ``extras``.

    ``env_kwargs`` should match the run's ``env_config`` so that the prompts match (``init`` uses the env's).
    """
    env = turngym.make(env_id, **env_kwargs)
    try:
        rows = []
        for seed in seeds:
            seed = _seed(env_id, {"seed": seed})
            messages, _ = env.reset(seed=seed)
            rows.append({"prompt": messages, "env_class": env_id, "seed": seed, "data_source": env_id})
        return rows
    finally:
        env.close()


def _env_kwargs(env_id: str, env_config: Any) -> dict[str, Any]:
    """``env_config`` as plain ``turngym.make`` kwargs (skyrl-train passes an omegaconf ``DictConfig``)."""
    if env_config is None:
        return {}
    from omegaconf import DictConfig, OmegaConf

    if isinstance(env_config, DictConfig):
        env_config = OmegaConf.to_container(env_config, resolve=True)
    if not isinstance(env_config, Mapping):
        raise EnvArgumentError(f"{env_id}: env_config must be a mapping of turngym.make arguments, got {env_config!r}")
    return dict(env_config)


def _seed(env_id: str, extras: Mapping[str, Any]) -> int:
    seed = extras.get("seed")
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise EnvArgumentError(
            f"{env_id}: extras must hold a non-negative int 'seed' (rows from dataset_rows do), "
            f"got {seed!r} among keys {sorted(extras)}"
        )
    return int(seed)
