"""Conformance checks every registered env must pass: Gymnasium's ``check_env``, same-seed
determinism, fork independence, a fuzz of garbage actions, and episode state kept where ``fork()``
copies it. ``turngym check ID`` runs them; the test suite runs them over the whole registry.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env, data_equivalence

from turngym.envs.core import EPISODE_ATTRIBUTES, AgentEnv
from turngym.envs.fuzz import HUGE_ACTION, garbage_action
from turngym.envs.info import StepInfo
from turngym.envs.messages import Action
from turngym.envs.registration import make
from turngym.envs.spaces import AssistantActionSpace

STEP_INFO_KEYS = set(StepInfo.__annotations__)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def check_gymnasium(env_id: str, **kwargs: Any) -> str:
    """Gymnasium's own ``check_env``; any warning it raises is a failure."""
    env = make(env_id, **kwargs)
    try:
        if not (env.spec is not None and env.spec.nondeterministic):
            _same_seed_step(env)  # check_env's own test of this says only "not equivalent"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env)
        if caught:
            raise AssertionError("check_env warned: " + "; ".join(str(w.message) for w in caught))
    finally:
        env.close()
    return "gymnasium check_env passed without warnings"


def _same_seed_step(env: gym.Env, seed: int = 123) -> None:
    """check_env's step determinism test (same seed, same sampled action, twice), failing with the
    difference between the two observations."""
    env.action_space.seed(seed)
    action = env.action_space.sample()
    env.reset(seed=seed)
    first = copy.deepcopy(env.step(action)[0])
    env.reset(seed=seed)
    second = env.step(action)[0]
    if not data_equivalence(first, second):
        diff = difflib.unified_diff(_lines(first), _lines(second), "first step", "second step", lineterm="")
        raise AssertionError(f"the same seed and action {action!r} gave different observations:\n" + "\n".join(diff))


def _lines(obs: Any) -> list[str]:
    """An observation as text lines for a diff (arrays by their shape and digest)."""

    def plain(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return f"array{value.shape} sha256={hashlib.sha256(value.tobytes()).hexdigest()[:12]}"
        return repr(value)

    return json.dumps(obs, default=plain, indent=1, sort_keys=True).splitlines()


def rollout_digest(env_id: str, seed: int, steps: int = 60, **kwargs: Any) -> str:
    """SHA-256 of a seeded random rollout (observations, rewards, flags, infos) across resets."""
    env = make(env_id, **kwargs)
    digest = hashlib.sha256()
    try:
        env.action_space.seed(seed)
        episode = 0
        obs, info = env.reset(seed=seed)
        digest.update(_dump(obs, info))
        for _ in range(steps):
            result = env.step(env.action_space.sample())
            digest.update(_dump(*result))
            if result[2] or result[3]:
                episode += 1
                digest.update(_dump(*env.reset(seed=seed + episode)))
    finally:
        env.close()
    return digest.hexdigest()


def check_determinism(env_id: str, seed: int = 0, steps: int = 60, **kwargs: Any) -> str:
    """Two rollouts of ``steps`` random actions with the same seeds hash equal; a different seed
    gives a different task."""
    first, second = rollout_digest(env_id, seed, steps, **kwargs), rollout_digest(env_id, seed, steps, **kwargs)
    if first != second:
        raise AssertionError(f"two rollouts with seed {seed} differ ({first[:12]} != {second[:12]})")
    if rollout_digest(env_id, seed + 1, steps, **kwargs) == first:
        raise AssertionError(f"seeds {seed} and {seed + 1} gave identical rollouts: the seed is ignored")
    return f"same seed, same rollout ({first[:12]})"


def check_fork(env_id: str, seed: int = 0, prefix: int = 2, branch: int = 3, **kwargs: Any) -> str:
    """Stepping a fork never changes the original, and a fork continues exactly like a replay."""
    env = make(env_id, **kwargs)
    tools, parser = list(env.unwrapped.tools.values()), env.unwrapped.parser
    try:
        for attempt in range(50):  # a random prefix that leaves the episode running; garbage if need be
            space = AssistantActionSpace(tools, parser, garbage_rate=0.1 if attempt < 25 else 0.9)
            space.seed(seed * 1000 + attempt)
            prefix_actions, fork_actions, main_actions = ([space.sample() for _ in range(n)] for n in (prefix, branch, branch))
            env.reset(seed=seed)
            if _play(env, prefix_actions) == prefix:
                break
        else:
            raise AssertionError(f"50 random prefixes of {prefix} steps all ended the episode; cannot test fork")
        fork = env.fork()
        fork_trace = _trace(fork, fork_actions)
        main_trace = _trace(env, main_actions)
    finally:
        env.close()
    for name, tail, got in (("original", main_actions, main_trace), ("fork", fork_actions, fork_trace)):
        fresh = make(env_id, **kwargs)
        fresh.reset(seed=seed)
        _play(fresh, prefix_actions)
        expected = _trace(fresh, tail)
        fresh.close()
        if got != expected:
            raise AssertionError(f"the {name} after a fork differs from a fresh replay of its actions")
    return f"fork after {prefix} steps: {branch} steps on each branch match fresh replays"


def check_fuzz(env_id: str, n: int = 1000, seed: int = 0, **kwargs: Any) -> str:
    """``n`` garbage actions: no exception, observations in the space, typed info, invalids counted."""
    rng = np.random.default_rng(seed)
    env = make(env_id, **kwargs)
    space = env.observation_space
    episodes, flagged = 0, 0
    try:
        env.reset(seed=seed)
        for i in range(n):
            action = HUGE_ACTION if i == 0 else garbage_action(rng, list(env.unwrapped.tools))
            try:
                obs, reward, terminated, truncated, info = env.step(action)
            except Exception as exc:
                raise AssertionError(f"garbage action {i} ({_preview(action)}) raised {type(exc).__name__}: {exc}") from exc
            if obs not in space:
                raise AssertionError(f"garbage action {i}: observation is not in {space}: {_preview(obs)}")
            if set(info) != STEP_INFO_KEYS or not (isinstance(reward, float) and math.isfinite(reward)):
                raise AssertionError(f"garbage action {i}: info keys {sorted(info)} or reward {reward!r} break the contract")
            if i == 0 and info["error"] is None:
                raise AssertionError("a 1 MB action was accepted; expected an error observation")
            flagged += info["error"] is not None
            if terminated or truncated:
                episodes += 1
                env.reset(seed=seed + episodes)
    finally:
        env.close()
    return f"{n} garbage actions: 0 exceptions, {flagged} answered with an error, {episodes} episodes"


def check_episode_state(env_id: str, seed: int = 0, steps: int = 6, **kwargs: Any) -> str:
    """Steps change no attribute of the env but its episode attributes (``EPISODE_ATTRIBUTES``: the
    ``EpisodeState``, ``last_step``, the random generators), and stepping a fork changes nothing of
    the original, not even what the two share (tools, hooks, class attributes).

    An env that counts in ``self.calls += 1`` or appends to a list made in ``__init__`` keeps episode
    state where ``fork()`` does not copy it; this check names the attribute. Attributes are compared
    after the steps with what they were before: immutable values by value, lists, dicts and sets by
    identity and shallow equality, any other object by identity.
    """
    env = make(env_id, **kwargs)
    core = env.unwrapped
    if not isinstance(core, AgentEnv):
        raise AssertionError(f"expected an AgentEnv, got {type(core).__name__}")
    space = AssistantActionSpace(list(core.tools.values()), core.parser, garbage_rate=0.3)
    space.seed(seed)
    stepped = 0
    try:
        for policy in ("oracle", "random"):  # the oracle's steps go through the vector envs' prefetch too
            env.reset(seed=seed)
            before = _attributes(core)
            for n in range(1, steps + 1):
                action = _action(core, space, policy)
                if policy == "oracle":
                    type(core).prefetch_batch([core], [action])
                *_, terminated, truncated, _ = env.step(action)
                stepped += 1
                changed = _changed(core, before)
                if changed:
                    raise AssertionError(
                        f"{policy} step {n} changed {', '.join(changed)} on the env: episode state must live in "
                        "env.state (EpisodeState.data for an env's own) or in last_step, which step() replaces"
                    )
                if terminated or truncated:
                    break
        env.reset(seed=seed)
        *_, terminated, truncated, _ = env.step(_action(core, space, "oracle"))
        if terminated or truncated:
            env.reset(seed=seed)
        before, episode = _attributes(core), _episode(core)
        fork = env.fork()
        for n in range(1, steps + 1):
            *_, terminated, truncated, _ = fork.step(_action(fork.unwrapped, space, "oracle" if n % 2 else "random"))
            now = _episode(core)
            changed = _changed(core, before) + [part for part, a, b in zip(_EPISODE_PARTS, now, episode, strict=True) if a != b]
            if changed:
                raise AssertionError(f"step {n} of a fork changed {', '.join(changed)} of the original")
            if terminated or truncated:
                break
    finally:
        env.close()
    return f"{stepped} steps left every attribute but the episode's unchanged; a fork's steps left the original unchanged"


CHECKS: dict[str, Callable[..., str]] = {
    "gymnasium": check_gymnasium,
    "determinism": check_determinism,
    "fork": check_fork,
    "fuzz": check_fuzz,
    "episode_state": check_episode_state,
}


def check(env_id: str, *, fuzz_actions: int = 1000, **kwargs: Any) -> list[CheckResult]:
    """Run every conformance check on ``env_id``; failures are reported, not raised."""
    results = []
    for name, fn in CHECKS.items():
        extra = {"n": fuzz_actions} if name == "fuzz" else {}
        try:
            results.append(CheckResult(name, True, fn(env_id, **extra, **kwargs)))
        except Exception as exc:
            results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
    return results


def _play(env: gym.Env, actions: list[Action]) -> int:
    """Step through ``actions``; the number stepped before the episode ended (all: still running)."""
    for n, action in enumerate(actions):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            return n
    return len(actions)


def _trace(env: gym.Env, actions: list[Action]) -> list[bytes]:
    out = []
    for action in actions:
        result = env.step(action)
        out.append(_dump(*result))
        if result[2] or result[3]:
            break
    return out


_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes, tuple, frozenset, range)
_CONTAINERS = (list, dict, set, bytearray)
_MISSING = object()
_EPISODE_PARTS = ("state", "last_step", "pending_prefetch", "np_random", "action_space")


def _attributes(env: AgentEnv) -> dict[tuple[Any, str], tuple[Any, Any]]:
    """(owner, name) -> (value, shallow copy or None) of the env's attributes outside the episode,
    and of the mutable containers on its classes (shared by every instance and fork)."""
    found: dict[tuple[Any, str], tuple[Any, Any]] = {}
    for name, value in vars(env).items():
        if name not in EPISODE_ATTRIBUTES:
            found[None, name] = (value, copy.copy(value) if isinstance(value, _CONTAINERS) else None)
    for cls in type(env).__mro__:
        for name, value in vars(cls).items():
            if isinstance(value, _CONTAINERS) and not name.startswith("__"):
                found[cls, name] = (value, copy.copy(value))
    return found


def _changed(env: AgentEnv, before: dict[tuple[Any, str], tuple[Any, Any]]) -> list[str]:
    """The attributes that differ from ``before`` (added, removed, reassigned or edited)."""
    changed = []
    for (owner, name), (value, kept) in before.items():
        now = vars(env if owner is None else owner).get(name, _MISSING)
        label = name if owner is None else f"{owner.__name__}.{name} (a class attribute)"
        if now is value and (kept is None or _equal(now, kept)):
            continue
        if not (isinstance(value, _IMMUTABLE) and type(now) is type(value) and _equal(now, value)):
            changed.append(label)
    added = set(vars(env)) - EPISODE_ATTRIBUTES - {name for owner, name in before if owner is None}
    return changed + sorted(f"{name} (added)" for name in added)


def _episode(env: AgentEnv) -> tuple[Any, ...]:
    """A comparable picture of the episode attributes, in the order of ``_EPISODE_PARTS``."""
    state, last, space = env._state(), env.last_step, env.action_space
    rngs = [None if g is None else g.bit_generator.state for g in (env._np_random, space._np_random)]
    counts = (state.turn, state.invalid_actions, state.tokens, state.stop_reason)
    return (
        (id(state), _picture(state.task), _picture(state.messages, state.tool_calls, counts), _picture(state.data)),
        (id(last), id(last.pending), id(last.context), _picture(last.metrics, last.scratch, last.prefetched)),
        _picture(env.pending_prefetch),
        _picture(rngs[0]),
        (id(space), _picture(rngs[1])),
    )


def _picture(*values: Any) -> bytes:
    """``values`` as bytes that change when they do (JSON, or ``repr`` where JSON cannot hold them)."""
    try:
        return _dump(*values)
    except (TypeError, ValueError):
        return repr(values).encode()


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays inside, whose == is elementwise
        return False


def _action(env: AgentEnv, space: AssistantActionSpace, policy: str) -> Action:
    action = env.oracle_action() if policy == "oracle" else None
    return space.sample() if action is None else action


def _dump(*values: Any) -> bytes:
    return json.dumps(values, sort_keys=True, default=repr).encode()


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
