"""The registry: turngym envs in Gymnasium's registry, ``make`` with close-match errors, env cards."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec, load_env_creator

from turngym.envs.errors import EnvArgumentError, UnknownEnvError

NAMESPACE = "turngym"
BUILTIN_ENVS = {
    "turngym/ToolCalc-v0": "turngym.envs.toolcalc:ToolCalcEnv",
    "turngym/GuessNumber-v0": "turngym.envs.guess_number:GuessNumberEnv",
    "turngym/Echo-v0": "turngym.envs.echo:EchoEnv",
    "turngym/SearchQA-v0": "turngym.envs.search.env:SearchQAEnv",
    "turngym/MultiHopQA-v0": "turngym.envs.search.multihop:MultiHopQAEnv",
    "turngym/WikiQA-v0": "turngym.envs.search.wikiqa:WikiQAEnv",
    "turngym/GrepSearch-v0": "turngym.envs.search.grep_env:GrepSearchEnv",
    "turngym/ToolUse-v0": "turngym.envs.tooluse:ToolUseEnv",
    "turngym/MemoryQA-v0": "turngym.envs.memory.env:MemoryQAEnv",
    "turngym/MemAgent-v0": "turngym.envs.memory.env:MemAgentEnv",
    "turngym/Clarify-v0": "turngym.envs.dialogue.clarify:ClarifyEnv",
    "turngym/Support-v0": "turngym.envs.dialogue.support:SupportEnv",
    "turngym/SupportUser-v0": "turngym.envs.dialogue.support:SupportUserEnv",
    "turngym/Seat-v0": "turngym.envs.multiagent.seat:SeatEnv",
    "turngym/WebShop-v0": "turngym.envs.gui.webapp.env:ShopEnv",
}
MINIWOB_ENTRY_POINT = "turngym.envs.gui.miniwob:MiniWoBEnv"  # one ID per task: turngym/miniwob.<task>-v0
_registered: dict[str, None] = {}  # IDs registered through ``register``, in order


def register(
    id: str, entry_point: str | Callable[..., gym.Env], *, kwargs: dict[str, Any] | None = None, **spec_kwargs: Any
) -> None:
    """Register an env with Gymnasium so that ``gym.make(id)`` returns the env itself (no wrappers).

    turngym envs check their own step order and budgets, so Gymnasium's order enforcer and
    passive checker are left off (``fork()`` and the env's attributes stay reachable);
    ``turngym check ID`` runs the full conformance suite instead.
    """
    spec_kwargs.setdefault("disable_env_checker", True)
    spec_kwargs.setdefault("order_enforce", False)
    gym.register(id=id, entry_point=entry_point, kwargs=dict(kwargs or {}), **spec_kwargs)
    _registered[id] = None


def miniwob_id(task: str) -> str:
    return f"{NAMESPACE}/miniwob.{task}-v0"


def register_builtin_envs() -> None:
    from turngym.envs.gui.miniwob_tasks import MINIWOB_TASKS, NONDETERMINISTIC  # names only: no browser code

    for env_id, entry_point in BUILTIN_ENVS.items():
        if env_id not in gym.registry:
            register(env_id, entry_point)
        _registered[env_id] = None
    for task in MINIWOB_TASKS:
        env_id = miniwob_id(task)
        if env_id not in gym.registry:
            register(env_id, MINIWOB_ENTRY_POINT, kwargs={"task": task}, nondeterministic=task in NONDETERMINISTIC)
        _registered[env_id] = None


def registered_ids() -> list[str]:
    """Every ID registered through turngym that is still in Gymnasium's registry."""
    return [env_id for env_id in _registered if env_id in gym.registry]


def spec(env_id: str) -> EnvSpec:
    """The ``EnvSpec`` of ``env_id``; an unknown ID raises ``UnknownEnvError`` naming close matches."""
    if env_id in gym.registry:
        return gym.registry[env_id]
    known = list(gym.registry)
    lowered = {k.lower(): k for k in known}
    matches = difflib.get_close_matches(env_id.lower(), list(lowered), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(lowered[m]) for m in matches)}?" if matches else ""
    raise UnknownEnvError(f"no env registered as {env_id!r}{hint} (`turngym list` prints every ID)")


def make(env_id: str, *, record_to: str | None = None, **kwargs: Any) -> gym.Env:
    """``gym.make`` with close-match errors and an optional episode recorder (``record_to=path``).

    A keyword argument the env does not take, or a value it refuses, raises ``EnvArgumentError``
    naming the env and the argument.
    """
    spec(env_id)
    try:
        env = gym.make(env_id, **kwargs)
    except (TypeError, ValueError) as exc:
        raise env_argument_error(env_id, exc) from exc
    if record_to is not None:
        from turngym.envs.recording import RecordEpisodes

        env = RecordEpisodes(env, record_to)
    return env


def env_class(env_id: str) -> Any:
    entry = spec(env_id).entry_point
    return load_env_creator(entry) if isinstance(entry, str) else entry


def env_card(env_id: str) -> str:
    """The env class docstring: Description, Observation, Action, Rewards, Episode End, Arguments."""
    return inspect.getdoc(env_class(env_id)) or ""


def one_line_card(env_id: str) -> str:
    """The card's first line; an env whose module cannot be imported says why (a missing extra)."""
    try:
        card = env_card(env_id)
    except ImportError as exc:
        return f"(cannot import: {exc}; try pip install 'turngym[all]')"
    return card.splitlines()[0] if card else ""


def env_argument_error(env_id: str, exc: Exception) -> EnvArgumentError:
    """The constructor's complaint as one line naming the env (without gymnasium's "was raised from ..." wrapping)."""
    text = str(exc).split(" was raised from the environment creator")[0]
    text = text.replace("AgentEnv.__init__() got an unexpected keyword argument", "unexpected keyword argument")
    return EnvArgumentError(f"{env_id}: {text} (`turngym card {env_id}` lists its arguments)")
