"""Process-reward hooks: ``StepContext``, the ``Hook`` protocol, batched scoring and weighting.

A hook is a plain callable ``f(ctx) -> float | dict[str, float] | None`` or an object with
``name`` and ``score_batch(contexts) -> list[...]``. None means "not applicable this step";
named floats become parts ``"<hook>/<key>"``. Batched scoring is the one path: a plain callable
is wrapped and called per context, a model-based judge scores the whole batch in one pass.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from turngym.envs.errors import HookError
from turngym.envs.info import ToolCallRecord
from turngym.envs.messages import Message
from turngym.envs.parsers import ParsedAction

Score = float | Mapping[str, float] | None
RESERVED_PARTS = ("outcome",)  # parts the env sets itself; a hook of that name would overwrite them


@dataclass(slots=True)
class StepContext:
    """Everything a hook may look at for one step (plain data, so it pickles across processes).
    Hooks read it and never change it (it is not frozen only because frozen dataclasses are slow
    to build, and one is built every step).

    ``history`` is the conversation before the action (system and task prompt included),
    ``observation`` the new messages the env answered with, ``past_tool_calls`` the calls of earlier
    steps, ``extras`` what the env adds about this step (the documents a search returned),
    ``facts`` what the env knows that the
    model does not (the reference answer, gold evidence, intermediate results).
    """

    env_id: str | None
    task_id: str
    task: str
    turn: int
    history: tuple[Message, ...]
    action: Message
    parsed: ParsedAction
    tool_calls: tuple[ToolCallRecord, ...]
    observation: tuple[Message, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    past_tool_calls: tuple[ToolCallRecord, ...] = ()
    action_error: str | None = None
    terminated: bool = False
    truncated: bool = False
    outcome: float | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Hook(Protocol):
    """A batched process-reward hook."""

    name: str

    def score_batch(self, contexts: Sequence[StepContext]) -> list[Score]: ...


@dataclass(frozen=True)
class FunctionHook:
    """Adapts a plain callable ``f(ctx) -> Score`` to the batched ``Hook`` protocol."""

    fn: Callable[[StepContext], Score]
    name: str

    def score_batch(self, contexts: Sequence[StepContext]) -> list[Score]:
        return [self.fn(ctx) for ctx in contexts]


def as_hook(obj: Any) -> Hook:
    """A ``Hook`` from a hook object or a plain callable (named by ``name`` or ``__name__``)."""
    if isinstance(obj, type) and isinstance(obj, Hook):  # e.g. FormatReward instead of FormatReward()
        raise HookError(f"got the class {obj.__name__}; pass an instance, e.g. {obj.__name__}()")
    if isinstance(obj, Hook):
        return obj
    if callable(obj):
        return FunctionHook(obj, getattr(obj, "name", None) or getattr(obj, "__name__", type(obj).__name__))
    raise HookError(f"expected a callable or an object with name and score_batch, got {type(obj).__name__}")


def as_hooks(objs: Sequence[Any] | None) -> list[Hook]:
    hooks = [as_hook(o) for o in (objs or [])]
    names = [h.name for h in hooks]
    for name in names:
        if not isinstance(name, str) or not name:
            raise HookError(f"a hook's name must be a non-empty string, got {name!r}")
        if name in RESERVED_PARTS:
            raise HookError(f"hook name {name!r} is reserved for the env's own reward part; rename the hook")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise HookError(f"hook names must be unique so their reward parts do not collide; repeated: {duplicated}")
    return hooks


def score_steps(hooks: Sequence[Hook], contexts: Sequence[StepContext]) -> list[dict[str, float]]:
    """Score every context with every hook (one ``score_batch`` call per hook); named parts per step."""
    parts: list[dict[str, float]] = [{} for _ in contexts]
    if not contexts:
        return parts
    batch = contexts if type(contexts) is list else list(contexts)
    for hook in hooks:
        scores = hook.score_batch(batch)
        if not isinstance(scores, list) or len(scores) != len(contexts):
            got = f"{type(scores).__name__} of length {len(scores)}" if hasattr(scores, "__len__") else type(scores).__name__
            raise HookError(f"hook {hook.name!r}: score_batch must return a list of {len(contexts)} scores, got {got}")
        for step_parts, score in zip(parts, scores, strict=False):
            if type(score) is float and score - score == 0.0 and hook.name not in step_parts:  # finite float: the common case
                step_parts[hook.name] = score
                continue
            named = _named(hook.name, score)
            clash = sorted(set(named) & set(step_parts))
            if clash:
                raise HookError(f"hook {hook.name!r}: reward parts {clash} were already set by another hook")
            step_parts.update(named)
    return parts


def _named(hook_name: str, score: Any) -> dict[str, float]:
    if score is None:
        return {}
    if isinstance(score, Mapping):
        return {f"{hook_name}/{k}": _number(f"{hook_name}/{k}", v) for k, v in score.items() if v is not None}
    return {hook_name: _number(hook_name, score)}


def _number(name: str, value: Any) -> float:
    if isinstance(value, numbers.Real):  # bool, int, float, Fraction, numpy float64
        try:
            number = float(value)
        except (OverflowError, ValueError, TypeError):
            number = math.nan
        if math.isfinite(number):
            return number
    elif hasattr(value, "item"):  # numpy / torch scalars (an array of several values fails here)
        try:
            item = value.item()
        except Exception:
            item = None
        if isinstance(item, numbers.Real):
            return _number(name, item)
    raise HookError(f"hook part {name!r}: expected a finite float, named floats or None, got {_short_repr(value)}")


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:200] + "..."


def add_parts(reward_parts: dict[str, float], reward: float, parts: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Add a step's extra ``parts`` to its ``reward_parts`` (in place) and return the step's new reward.

    The one rule for every path that adds process rewards after the env's own (the ``ProcessRewards``
    wrapper, hooks scored over a vector step): a part the step already has is an error, and the
    reward grows by ``weighted_sum(parts, weights)``, so ``reward`` stays the weighted sum of
    ``reward_parts`` when ``weights`` are the env's ``reward_weights``.
    """
    clash = sorted(set(parts) & set(reward_parts))
    if clash:
        raise HookError(f"reward parts {clash} are set twice (by the env and by a hook added to it); rename the hook")
    reward_parts.update(parts)
    return reward + weighted_sum(parts, weights)


def weighted_sum(parts: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """``sum(weight * part)``; a part's weight is ``weights[part]``, else ``weights[hook]``, else 1.

    For a part ``"a/b/c"`` the hook's weight is the longest of ``"a/b"``, ``"a"`` found in ``weights``
    (hook names may hold a ``/`` themselves).
    """
    total = 0.0
    for name, value in parts.items():
        weight = 1.0
        prefix = name
        while True:
            if prefix in weights:
                weight = weights[prefix]
                break
            if "/" not in prefix:
                break
            prefix = prefix.rsplit("/", 1)[0]
        total += weight * value
    return total
