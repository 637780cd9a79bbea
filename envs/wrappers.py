"""Wrappers for turngym envs. Each overrides what it changes and forwards ``fork()``."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym

from turngym.envs.errors import HookError
from turngym.envs.hooks.base import add_parts, as_hooks, score_steps
from turngym.envs.info import StepInfo
from turngym.envs.messages import Action, Message


class AgentWrapper(gym.Wrapper):
    """A ``gym.Wrapper`` whose ``fork()`` forks the wrapped env and copies this wrapper."""

    def fork(self) -> AgentWrapper:
        new = copy.copy(self)
        new.env = self.env.fork()
        return new


class ProcessRewards(AgentWrapper):
    """Adds process-reward hooks to any turngym env: parts land in ``info["reward_parts"]``.

    Weights are the env's ``reward_weights`` updated with ``weights``; a part the env already
    sets is an error (``add_parts``).

    >>> import turngym
    >>> from turngym.envs.hooks import TurnCost
    >>> env = ProcessRewards(turngym.make("turngym/GuessNumber-v0"), [TurnCost(0.05)])
    >>> _ = env.reset(seed=0)
    >>> env.step("<guess>50</guess>")[4]["reward_parts"]["turn_cost"]
    -0.05
    """

    def __init__(self, env: gym.Env, hooks: Sequence[Any], weights: Mapping[str, float] | None = None):
        super().__init__(env)
        self.hooks = as_hooks(hooks)
        taken = {h.name for h in getattr(env.unwrapped, "hooks", [])}
        clashes = sorted(taken & {h.name for h in self.hooks})
        if clashes:
            raise HookError(f"the env already scores hooks named {clashes}; give the wrapper's hooks other names")
        self.weights = {**getattr(env.unwrapped, "reward_weights", {}), **dict(weights or {})}

    def step(self, action: Action) -> tuple[list[Message], float, bool, bool, StepInfo]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        parts = score_steps(self.hooks, [self.env.unwrapped.last_context])[0]
        return obs, add_parts(info["reward_parts"], reward, parts, self.weights), terminated, truncated, info


class WithTools(AgentWrapper):
    """Offers extra tools on any turngym env (the same as ``gym.make(id, tools=[...])``).

    The tools join the env's own: the system prompt lists their schemas, the parser accepts
    calls to them and ``tool_schemas`` (for a chat template's ``tools=``) includes them.

    >>> import turngym
    >>> from turngym.tools import tool
    >>> @tool
    ... def shout(text: str) -> str:
    ...     '''Upper-case a text.
    ...
    ...     Args:
    ...         text: What to shout.
    ...     '''
    ...     return text.upper()
    >>> env = WithTools(turngym.make("turngym/ToolCalc-v0"), [shout])
    >>> _ = env.reset(seed=0)
    >>> env.step('<tool_call>{"name": "shout", "arguments": {"text": "hi"}}</tool_call>')[0][0]["content"]
    'HI'
    """

    def __init__(self, env: gym.Env, tools: Sequence[Any]):
        super().__init__(env)
        add_tools = getattr(env.unwrapped, "add_tools", None)
        if add_tools is None:
            raise TypeError(f"WithTools needs a turngym AgentEnv, got {type(env.unwrapped).__name__}")
        add_tools(list(tools))

    @property
    def tool_schemas(self) -> list[dict[str, Any]]:
        return self.env.unwrapped.tool_schemas
