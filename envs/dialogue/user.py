"""The user-simulator interface every dialogue env talks to, and the markers that end a conversation.

A user simulator plays the human side from a hidden ``UserProfile``: it opens the conversation,
answers what it knows when asked, refuses what it does not know, never invents information, and
ends with a stop marker. It is seeded from the episode's seed, so the same seed gives the same
conversation; ``fork()`` copies it with the episode (an env keeps it in ``state.data``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from turngym.envs.messages import Message

STOP = "###STOP###"  # the user's goal is met (or cannot be): the conversation ends
TRANSFER = "###TRANSFER###"  # the user was handed to a human agent
OUT_OF_SCOPE = "###OUT-OF-SCOPE###"  # the scenario does not cover what the agent asked
MARKERS = (STOP, TRANSFER, OUT_OF_SCOPE)


@dataclass(frozen=True)
class UserProfile:
    """What the simulated user wants and knows (hidden from the agent).

    ``scenario``: the user's goal in their own words (tau2's task scenario). ``opening``: the first
    message. ``facts``: private facts, revealed only when asked, by name (``"order_id": "W123"``).
    ``aliases``: the words in an agent's message that ask for each fact (default: the fact's name
    with ``_`` as spaces). ``done_when``: strings whose appearance in an agent message means the
    goal is met (the user then ends with ``STOP``).
    """

    scenario: str
    opening: str
    facts: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    done_when: tuple[str, ...] = ()

    def asks_for(self, name: str) -> tuple[str, ...]:
        return tuple(self.aliases.get(name, ())) or (name.replace("_", " "),)


@runtime_checkable
class UserSimulator(Protocol):
    """The human side of a dialogue env.

    ``start(profile, seed)`` begins a conversation and returns the user's opening message;
    ``respond(conversation)`` returns the user's next message given the conversation so far as the
    agent sees it (system prompt, user and assistant messages; tool messages are the agent's own
    business), ending with a marker from ``MARKERS`` when the conversation is over; ``fork()``
    returns an independent copy in the same state.
    """

    name: str

    def start(self, profile: UserProfile, seed: int) -> str: ...

    def respond(self, conversation: Sequence[Message]) -> str: ...

    def fork(self) -> UserSimulator: ...


def ended(message: str) -> str | None:
    """The marker a user message ends the conversation with, or None."""
    return next((m for m in MARKERS if m in message), None)
