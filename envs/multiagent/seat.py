"""``turngym/Seat-v0``: one seat of a multi-agent game as a single-agent env, the other seats played by an opponent.

Every trainer trains a seat like any env: against a fixed opponent (the game's scripted player, a
random one, or any policy), or in self-play (``opponent="self"`` in a training config: the learner
plays the other seat too; ``seat="alternate"`` lets the seed pick the seat, so one run trains both
seats, each episode's trajectory, group and advantage its own seat's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from turngym.envs.core import AgentEnv, Reply, Task
from turngym.envs.messages import Action, copy_messages
from turngym.envs.multiagent import _game_factory
from turngym.envs.parsers import ParsedAction


def seat_parts(ctx: Any) -> dict[str, float] | None:
    """The game's own reward parts for the seat this step (all but ``outcome``, which the env sets)."""
    parts = (ctx.extras or {}).get("game_parts") or {}
    return {k: v for k, v in parts.items() if k != "outcome"} or None


seat_parts.name = "game"  # type: ignore[attr-defined]


class SeatEnv(AgentEnv):
    """Play one seat of a multi-agent game; the opponent plays the others.

    Description:
        The game (``game=``, an ID of ``turngym.multiagent_ids()``) runs as in its PettingZoo envs;
        after each action of the seat the opponent moves until it is the seat's turn again.
    Observation:
        The seat's conversation: reset gives its opening messages; each step the messages that came
        since its action (the other agents' messages, tool results, errors).
    Action:
        What the seat's agent writes in the game (Negotiation: ``<propose>B H L</propose>`` or
        ``<accept></accept>``; a dialogue game's agent: the dialogue env's actions).
    Rewards:
        ``outcome``: the seat's outcome part when the game ends (0 if it ends by running out of
        turns); ``game/<part>``: the game's other parts for the seat (Negotiation's ``invalid``).
    Episode End:
        Terminated when the game ends; truncated by the usual budgets.
    Arguments:
        game, game_kwargs: the multi-agent ID and its arguments. seat: an agent name or "alternate"
        (the seed picks; games whose seats share an action format). opponent: "scripted" (the game's
        own player), "random" (its action space's sampler) or an object with ``act(conversation,
        stop) -> action`` (``PolicyOpponent``). Plus every ``AgentEnv`` argument.
    Example:
        >>> import turngym
        >>> env = turngym.make("turngym/Seat-v0", seat="bob")
        >>> obs, info = env.reset(seed=0)
        >>> obs[-1]["role"], "<propose>" in obs[-1]["content"]  # alice (scripted) has moved
        ('user', True)
    """

    def __init__(
        self,
        game: str = "turngym/Negotiation-v0",
        seat: str | None = None,
        opponent: Any = "scripted",
        game_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ):
        self.game_id = game
        self._make_game = _game_factory(game, dict(game_kwargs or {}))
        probe = self._make_game()
        seats = probe.possible_agents
        if seat not in (None, "alternate", *seats):
            raise ValueError(f"seat must be one of {list(seats)} or 'alternate', got {seat!r}")
        spaces = {s: probe.action_space(s) for s in seats}
        formats = {(type(spaces[s].parser), spaces[s].parser.stop_strings, probe.stop_strings(s)) for s in seats}
        if seat == "alternate" and len(formats) > 1:
            raise ValueError(f"seat='alternate' needs seats with one action format; {game}'s seats differ")
        if not (opponent in ("scripted", "random") or callable(getattr(opponent, "act", None))):
            raise ValueError(f"opponent must be 'scripted', 'random' or an object with act(conversation, stop), got {opponent!r}")
        self.seats, self.seat, self.opponent = seats, seat or seats[0], opponent
        first = spaces[seats[0] if self.seat == "alternate" else self.seat]
        self._stops = probe.stop_strings(seats[0] if self.seat == "alternate" else self.seat)
        kwargs.setdefault("parser", first.parser)
        kwargs.setdefault("max_turns", 32)
        super().__init__(builtin_tools=first.tools, **kwargs)

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        game_seed = int(self.np_random.integers(2**31 - 1))
        seat = self.seats[int(self.np_random.integers(len(self.seats)))] if self.seat == "alternate" else self.seat
        return Task(id=f"{self.game_id}:{game_seed}:{seat}", prompt="", facts={"seat": seat, "game_seed": game_seed})

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed, options=options)
        state = self.state
        seat = state.task.facts["seat"]
        game = self._make_game()
        game.reset(state.task.facts["game_seed"])
        opponents = {s: game.action_space(s) for s in self.seats if s != seat}
        for i, space in enumerate(opponents.values()):
            space.seed(int(self.np_random.integers(2**31 - 1)) + i)
        state.data.update(game=game, seat=seat, spaces=opponents)
        self._opponent_moves()
        state.messages = game.observe(seat)
        return copy_messages(state.messages), self._info({}, [], None)

    def _opponent_moves(self) -> dict[str, float]:
        """The opponent plays until it is the seat's turn or the game ends; the seat's parts from those moves."""
        data = self._state().data
        game, seat = data["game"], data["seat"]
        parts: dict[str, float] = {}
        while not (game.over or game.truncated) and game.current != seat:
            agent = game.current
            if self.opponent == "scripted":
                action = game.oracle_action()
            elif self.opponent == "random":
                action = data["spaces"][agent].sample()
            else:
                action = self.opponent.act(game.observe(agent), stop=game.stop_strings(agent))
            game.act(action)
            for k, v in game.step_parts.get(seat, {}).items():
                parts[k] = parts.get(k, 0.0) + v
        return parts

    def _respond(self, parsed: ParsedAction) -> Reply:
        state = self._state()
        game, seat = state.data["game"], state.data["seat"]
        message = state.messages[-1]
        action: Action = message if message.get("tool_calls") else str(message.get("content") or "")
        before = len(game.observe(seat))
        game.act(action)
        parts = dict(game.step_parts.get(seat, {}))
        for k, v in self._opponent_moves().items():
            parts[k] = parts.get(k, 0.0) + v
        new = game.observe(seat)[before + 1 :]  # after the seat's own message
        ended = game.over or game.truncated
        outcome = parts.get("outcome", 0.0) if ended else None
        return Reply(messages=new, outcome=outcome, done=ended, extras={"game_parts": parts})

    def default_process_rewards(self) -> list[Any]:
        return [seat_parts]

    def default_reward_weights(self) -> dict[str, float]:
        probe_weights = self._make_game().reward_weights(self.seats[0] if self.seat == "alternate" else self.seat)
        return {f"game/{k}": v for k, v in probe_weights.items()}

    def oracle_action(self) -> Action | None:
        game = self._state().data["game"]
        return None if game.over or game.truncated else game.oracle_action()

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*super().stop_strings, *self._stops)))


class PolicyOpponent:
    """An opponent that samples its moves from a policy (a ``TokenPolicy`` such as the learner itself: self-play)."""

    def __init__(self, policy: Any, temperature: float | None = None, seed: int = 0):
        self.policy, self.temperature = policy, temperature
        self.rng = np.random.default_rng(seed)

    def act(self, conversation: list[dict], stop: tuple[str, ...] = ()) -> Action:
        import torch

        from turngym.agents.base import as_token_policy

        policy = as_token_policy(self.policy)
        traj = policy.start(conversation)
        generator = torch.Generator().manual_seed(int(self.rng.integers(2**31 - 1)))
        return policy.sample([traj], 1, generator=generator, temperature=self.temperature, stop=stop)[0][0].action

    def __deepcopy__(self, memo: dict) -> PolicyOpponent:
        return self  # the policy is shared configuration, like tools
