"""Turn-based games of chat agents, and ``UserSeatGame``: a dialogue env whose simulated user is a second agent.

A ``TurnGame`` keeps each agent's conversation (its own messages as ``assistant``, everything said
to it as ``user``), whose turn it is, and each agent's reward parts. The PettingZoo AEC and parallel
envs in ``pz.py`` wrap it; single-agent trainers play one seat of it against a fixed opponent.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from turngym.envs.dialogue.user import UserProfile
from turngym.envs.dialogue.users import user_prompt
from turngym.envs.messages import Action, Message, assistant_message, copy_messages, system_message, user_message
from turngym.envs.parsers import make_parser
from turngym.envs.spaces import AssistantActionSpace


class TurnGame(abc.ABC):
    """Agents take turns; ``act(action)`` plays the current agent's action.

    After each ``act``: ``step_parts[agent]`` holds the reward parts each agent got from it (an
    agent's step reward is their weighted sum, ``step_reward``), ``over`` and ``truncated`` say
    whether the game ended (by its rules, or by a budget), ``stop_reason`` why. ``infos[agent]`` is
    plain data that two runs with the same seed and actions reproduce exactly.
    """

    possible_agents: tuple[str, ...]

    def __init__(self) -> None:
        self.conversations: dict[str, list[Message]] = {}
        self.current: str = ""
        self.over = False
        self.truncated = False
        self.stop_reason: str | None = None
        self.step_parts: dict[str, dict[str, float]] = {}
        self.infos: dict[str, dict[str, Any]] = {}

    @abc.abstractmethod
    def reset(self, seed: int | None) -> None:
        """Start a game: fill ``conversations`` and set ``current``."""

    @abc.abstractmethod
    def act(self, action: Action) -> None:
        """Play ``action`` for ``current``; set ``step_parts``, ``infos``, ``current`` and the end flags."""

    @abc.abstractmethod
    def action_space(self, agent: str) -> AssistantActionSpace:
        """A fresh action space for ``agent`` (its parser and tools), made once per env wrapper."""

    def reward_weights(self, agent: str) -> Mapping[str, float]:
        return {}

    def stop_strings(self, agent: str) -> tuple[str, ...]:
        """Where ``agent``'s actions end (its parser's stop strings by default)."""
        return self.action_space(agent).parser.stop_strings

    @abc.abstractmethod
    def oracle_action(self) -> Action:
        """A scripted move for the current agent (the opponent ``SeatEnv`` plays by default)."""

    def step_reward(self, agent: str) -> float:
        weights = self.reward_weights(agent)
        return float(sum(v * weights.get(k, 1.0) for k, v in self.step_parts.get(agent, {}).items()))

    def observe(self, agent: str) -> list[Message]:
        return copy_messages(self.conversations[agent])

    def _begin_act(self) -> None:
        self.step_parts = {agent: {} for agent in self.possible_agents}


class ProxyUser:
    """A ``UserSimulator`` whose replies come from another agent: ``pending`` holds the next one.

    Forks and deep copies are the object itself, so a trial fork of the env reports through
    ``asked`` that the agent's action went to the user.
    """

    name = "seat"

    def __init__(self) -> None:
        self.profile: UserProfile | None = None
        self.pending: str | None = None
        self.asked: list[Message] | None = None

    def start(self, profile: UserProfile, seed: int) -> str:
        self.profile = profile
        return profile.opening

    def respond(self, conversation: Sequence[Message]) -> str:
        self.asked = list(conversation)
        reply, self.pending = self.pending, None
        return reply if reply is not None else "..."

    def fork(self) -> ProxyUser:
        return self

    def __deepcopy__(self, memo: dict) -> ProxyUser:
        return self


class UserSeatGame(TurnGame):
    """A dialogue env (one that takes ``user=``) with its user played by a second agent.

    ``agent`` plays the env as usual: tool calls and answers step the env at once; a message to the
    user (seen through a trial fork of the env) waits for ``user``, whose turn it then is. ``user``
    sees tau2's user prompt for the task's profile and the agent's messages, and replies with plain
    text (its messages may end with ``###STOP###``). Rewards: ``agent`` gets the env's reward parts at
    each env step; ``user`` gets the env's ``outcome`` when the episode ends (the goal both serve).
    """

    possible_agents = ("agent", "user")

    def __init__(self, env_id: str, **env_kwargs: Any):
        super().__init__()
        import turngym

        self.proxy = ProxyUser()
        self.env = turngym.make(env_id, user=self.proxy, **env_kwargs).unwrapped
        self.env_id = env_id
        self.waiting: Action | None = None  # the agent's message the user is to answer

    def reset(self, seed: int | None) -> None:
        obs, info = self.env.reset(seed=seed)
        profile = self.proxy.profile
        if profile is None:
            raise TypeError(f"{self.env_id} did not start its user (it must call user.start(profile, seed) in reset)")
        self.conversations = {
            "agent": obs,
            "user": [system_message(user_prompt(profile)), assistant_message(profile.opening)],
        }
        self.current, self.waiting, self.over, self.truncated, self.stop_reason = "agent", None, False, False, None
        self.step_parts = {a: {} for a in self.possible_agents}
        self.infos = {a: {"task_id": info["task_id"], "turn": 0, "reward_parts": {}, "error": None} for a in self.possible_agents}

    def act(self, action: Action) -> None:
        from turngym.envs.vector.sync import step_env

        self._begin_act()
        if self.current == "agent":
            trial = self.env.fork()  # a trial step tells a message to the user from a tool call or an answer
            self.proxy.asked, self.proxy.pending = None, None
            result = step_env(trial, action)
            if self.proxy.asked is not None:  # a message to the user: the user answers it first
                self.waiting = action
                said = self.proxy.asked[-1].get("content") if self.proxy.asked else ""
                self.conversations["user"].append(user_message(str(said or "")))
                self.current = "user"
                self.infos["agent"] = {**self.infos["agent"], "reward_parts": {}, "error": None}
                return
            self.env = trial  # the trial's step is the step
            self._record(result)
            return
        text = action if isinstance(action, str) else str(action.get("content") or "") if isinstance(action, dict) else ""
        self.conversations["user"].append(assistant_message(text))
        self.proxy.pending = text
        pending, self.waiting = self.waiting, None
        self._record(step_env(self.env, pending))

    def _record(self, result: tuple) -> None:
        """The env's step (a ``step_env`` tuple) in the agent's conversation, rewards and infos; the end of the game."""
        obs, reward, terminated, truncated, info, *_ = result
        self.proxy.pending = None
        self.conversations["agent"] = copy_messages(self.env.state.messages) if self.env.state else self.conversations["agent"]
        parts = dict(info["reward_parts"])
        self.step_parts["agent"] = parts
        self.infos["agent"] = {"task_id": info["task_id"], "turn": info["turn"], "reward_parts": parts, "error": info["error"]}
        self.current = "agent"
        if terminated or truncated:
            self.over, self.truncated = bool(terminated), bool(truncated)
            self.stop_reason = str(info["stop_reason"])
            self.step_parts["user"] = {"outcome": float(parts.get("outcome", 0.0))}
            self.infos["user"] = {
                **self.infos["user"],
                "reward_parts": dict(self.step_parts["user"]),
                "stop_reason": self.stop_reason,
            }
            self.infos["agent"]["stop_reason"] = self.stop_reason
        else:
            self.infos["user"] = {**self.infos["user"], "reward_parts": {}}

    def reward_weights(self, agent: str) -> Mapping[str, float]:
        return self.env.reward_weights if agent == "agent" else {}

    def stop_strings(self, agent: str) -> tuple[str, ...]:
        return self.env.stop_strings if agent == "agent" else ()

    def action_space(self, agent: str) -> AssistantActionSpace:
        if agent == "agent":
            return AssistantActionSpace(list(self.env.tools.values()), self.env.parser)
        return AssistantActionSpace([], make_parser("tags", []))

    def oracle_action(self) -> Action:
        """The env's oracle for ``agent``; the profile's facts for ``user`` (what a rule user would say)."""
        if self.current == "agent":
            return self.env.oracle_action()
        profile = self.proxy.profile
        return " ".join(f"My {k.replace('_', ' ')} is {v}." for k, v in profile.facts.items()) if profile else ""
