"""A negotiation game with private values: two agents split a pool of items (Lewis et al.'s "Deal or no deal")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from turngym.envs.messages import Action, assistant_message, check_action, system_message, user_message
from turngym.envs.multiagent.game import TurnGame
from turngym.envs.parsers import TagParser
from turngym.envs.spaces import AssistantActionSpace

ITEMS = ("books", "hats", "balls")
_PROPOSE = re.compile(r"<propose>\s*(\d+)\s+(\d+)\s+(\d+)\s*</propose>")
_ACCEPT = re.compile(r"<accept>\s*</accept>|<accept/>")


class NegotiationGame(TurnGame):
    """Two agents split a pool of books, hats and balls; each values the items privately.

    Description:
        The pool holds 1 to 4 of each item; each agent's private values (integers, its total value of
        the pool is 10) are drawn from the seed. Agents alternate; each turn one message that may hold
        a proposal ``<propose>B H L</propose>`` (what the speaker keeps; the other gets the rest) or
        ``<accept></accept>`` (take the other's last proposal). Talk outside the tags is passed on.
    Observation:
        Per agent, its conversation: a system prompt with the pool, its own values and the format,
        then the other's messages (as user) and its own (as assistant).
    Rewards:
        ``outcome`` for each agent when a proposal is accepted: the value of its share over 10 (0 for
        both without a deal by ``max_rounds`` turns each); ``invalid`` (-1 weight 0.1) for a malformed
        proposal or an accept with nothing to accept.
    """

    possible_agents = ("alice", "bob")

    def __init__(self, max_rounds: int = 4):
        super().__init__()
        if not isinstance(max_rounds, int) or max_rounds < 1:
            raise ValueError(f"max_rounds must be an int >= 1, got {max_rounds!r}")
        self.max_rounds = max_rounds
        self.parser = TagParser(answer_tag="propose")

    def reset(self, seed: int | None) -> None:
        rng = np.random.default_rng(seed)
        while True:  # a pool some values can add up to 10 on (not every pool can: 4 4 4)
            self.pool = rng.integers(1, 5, size=3)
            options = _value_options(self.pool)
            if len(options) >= 2:
                break
        self.values = {agent: options[int(rng.integers(len(options)))] for agent in self.possible_agents}
        self.conversations = {agent: [system_message(self._prompt(agent))] for agent in self.possible_agents}
        self.current, self.turn, self.last_offer = "alice", 0, None
        self.over, self.truncated, self.stop_reason = False, False, None
        self.step_parts = {a: {} for a in self.possible_agents}
        self.infos = {a: {"turn": 0, "reward_parts": {}, "error": None} for a in self.possible_agents}

    def _prompt(self, agent: str) -> str:
        pool = ", ".join(f"{n} {item}" for n, item in zip(self.pool.tolist(), ITEMS, strict=True))
        values = ", ".join(f"{item} {v}" for item, v in zip(ITEMS, self.values[agent].tolist(), strict=True))
        return (
            f"You are {agent}. Split the items with the other agent. Pool: {pool}. Your values per item: {values}.\n"
            "Propose what you keep as <propose>BOOKS HATS BALLS</propose>, or take the other's last proposal with "
            f"<accept></accept>. Each of you has {self.max_rounds} turns; without a deal both get nothing."
        )

    def act(self, action: Action) -> None:
        self._begin_act()
        agent, other = self.current, self._other(self.current)
        checked = check_action(action, 4_000)
        text = checked.text if checked.text is not None else str(checked.message.get("content") or "")
        error = checked.error
        self.conversations[agent].append(assistant_message(text))
        self.turn += 1
        if error is None and _ACCEPT.search(text):
            if self.last_offer is None or self.last_offer[0] != other:
                error = "nothing to accept: the other agent has made no proposal since your last"
            else:
                self._deal(keeper=other, keep=self.last_offer[1])
        elif error is None and (match := _PROPOSE.search(text)):
            keep = np.array([int(g) for g in match.groups()])
            if np.any(keep > self.pool):
                error = f"you cannot keep more than the pool ({' '.join(map(str, self.pool.tolist()))})"
            else:
                self.last_offer = (agent, keep)
        elif error is None and "<propose>" in text:
            error = "a proposal is <propose>BOOKS HATS BALLS</propose> with three whole numbers"
        if error is not None:
            self.step_parts[agent] = {"invalid": -1.0}
            self.conversations[agent].append(user_message(f"Invalid action: {error}."))
        self.conversations[other].append(user_message(text))
        if not self.over and self.turn >= 2 * self.max_rounds:
            self.truncated, self.stop_reason = True, "max_turns"
            for a in self.possible_agents:
                self.step_parts[a]["outcome"] = 0.0
        self.infos = {
            a: {"turn": self.turn, "reward_parts": dict(self.step_parts[a]), "error": error if a == agent else None}
            for a in self.possible_agents
        }
        if self.over or self.truncated:
            for a in self.possible_agents:
                self.infos[a]["stop_reason"] = self.stop_reason
        self.current = other

    def _deal(self, keeper: str, keep: np.ndarray) -> None:
        shares = {keeper: keep, self._other(keeper): self.pool - keep}
        for a in self.possible_agents:
            self.step_parts[a]["outcome"] = float(np.dot(shares[a], self.values[a])) / 10.0
        self.over, self.stop_reason = True, "answered"

    def _other(self, agent: str) -> str:
        return self.possible_agents[1 - self.possible_agents.index(agent)]

    def reward_weights(self, agent: str) -> Mapping[str, float]:
        return {"invalid": 0.1}

    def action_space(self, agent: str) -> AssistantActionSpace:
        return AssistantActionSpace([], self.parser)

    def stop_strings(self, agent: str) -> tuple[str, ...]:
        return ("</propose>", "</accept>")

    def oracle_action(self) -> Action:
        """A fair-minded scripted negotiator: accept an offer worth at least half, else keep what it values most."""
        agent, other = self.current, self._other(self.current)
        mine = self.values[agent]
        offered = self.last_offer is not None and self.last_offer[0] == other
        if offered and float(np.dot(self.pool - self.last_offer[1], mine)) >= 5:
            return "<accept></accept>"
        keep = np.where(mine >= np.median(mine), self.pool, 0)
        return f"<propose>{' '.join(map(str, keep.tolist()))}</propose>"

    def info(self) -> dict[str, Any]:
        return {"pool": self.pool.tolist(), "values": {a: v.tolist() for a, v in self.values.items()}}


def _value_options(pool: np.ndarray) -> list[np.ndarray]:
    """Every integer value vector with ``values . pool == 10`` (each item type worth 0 to 10)."""
    grid = np.array(np.meshgrid(*[np.arange(11)] * 3, indexing="ij")).reshape(3, -1).T
    return list(grid[grid @ pool == 10])
