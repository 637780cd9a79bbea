"""PettingZoo AEC and parallel envs over a ``TurnGame``; observations are each agent's chat messages.

An observation is ``{"messages": [...]}``, the agent's whole conversation (a ``Dict`` space over
turngym's ``MessagesSpace``, whose ``contains`` accepts chat messages); an action is the agent's
text or an assistant message dict, as for every turngym env. The parallel env plays one round per
``step``: each agent's action is played when its turn comes, in agent order; an action given out of
turn (the other agent still owes its move) is left unplayed and named in ``infos[agent]["unplayed"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv

from turngym.envs.messages import Action
from turngym.envs.multiagent.game import TurnGame
from turngym.envs.spaces import MessagesSpace

MAX_MESSAGES = 4096


def _spaces(game: TurnGame) -> tuple[dict[str, spaces.Space], dict[str, spaces.Space]]:
    observation = {a: spaces.Dict({"messages": MessagesSpace(max_messages=MAX_MESSAGES)}) for a in game.possible_agents}
    action = {a: game.action_space(a) for a in game.possible_agents}
    return observation, action


class TurngymAEC(AECEnv):
    """``game`` as a PettingZoo ``AECEnv``: ``agent_iter``, ``last``, ``observe``, ``step(action) -> None``."""

    metadata = {"name": "turngym_aec", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, make_game: Callable[[], TurnGame], name: str, render_mode: str | None = None):
        super().__init__()
        self.game = make_game()
        self.metadata = {**self.metadata, "name": name}
        self.possible_agents = list(self.game.possible_agents)
        self.observation_spaces, self.action_spaces = _spaces(self.game)
        self.render_mode = render_mode

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        self.game.reset(seed)
        if seed is not None:
            for i, agent in enumerate(self.possible_agents):
                self.action_spaces[agent].seed(seed + i)
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {a: dict(self.game.infos[a]) for a in self.agents}
        self.agent_selection = self.game.current

    def observe(self, agent: str) -> dict[str, Any]:
        return {"messages": self.game.observe(agent)}

    def step(self, action: Action | None) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        self.game.act(action)
        self.rewards = {a: self.game.step_reward(a) for a in self.agents}
        self.infos = {a: dict(self.game.infos[a]) for a in self.agents}
        if self.game.over or self.game.truncated:
            for a in self.agents:
                self.terminations[a], self.truncations[a] = self.game.over, self.game.truncated and not self.game.over
        self.agent_selection = self.game.current
        self._accumulate_rewards()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return "\n".join(f"[{a}] {m['role']}: {m.get('content')}" for a in self.possible_agents for m in self.game.observe(a))

    def close(self) -> None:
        pass


class TurngymParallel(ParallelEnv):
    """``game`` as a PettingZoo ``ParallelEnv``: ``step(actions)`` plays one round, every agent in order."""

    metadata = {"name": "turngym_parallel", "render_modes": []}

    def __init__(self, make_game: Callable[[], TurnGame], name: str):
        self.game = make_game()
        self.metadata = {**self.metadata, "name": name}
        self.possible_agents = list(self.game.possible_agents)
        self.observation_spaces, self.action_spaces = _spaces(self.game)
        self.agents: list[str] = []

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        self.game.reset(seed)
        if seed is not None:
            for i, agent in enumerate(self.possible_agents):
                self.action_spaces[agent].seed(seed + i)
        self.agents = list(self.possible_agents)
        return {a: {"messages": self.game.observe(a)} for a in self.agents}, {a: dict(self.game.infos[a]) for a in self.agents}

    def step(self, actions: dict[str, Action]) -> tuple[dict, dict, dict, dict, dict]:
        rewards = dict.fromkeys(self.agents, 0.0)
        infos: dict[str, dict[str, Any]] = {}
        played = set()
        for agent in self.agents:
            if self.game.over or self.game.truncated or agent not in actions or self.game.current != agent:
                continue
            self.game.act(actions[agent])
            played.add(agent)
            for a in self.agents:
                rewards[a] += self.game.step_reward(a)
                infos[a] = dict(self.game.infos[a])
        ended = self.game.over or self.game.truncated
        for a in self.agents:
            infos.setdefault(a, dict(self.game.infos[a]))
            infos[a]["unplayed"] = a in actions and a not in played
        observations = {a: {"messages": self.game.observe(a)} for a in self.agents}
        terminations = dict.fromkeys(self.agents, bool(self.game.over))
        truncations = dict.fromkeys(self.agents, bool(ended and not self.game.over))
        if ended:
            self.agents = []
        return observations, rewards, terminations, truncations, infos
