"""Two user simulators behind ``UserSimulator``: rule-based (``RuleUser``) and model-based (``ModelUser``).

``RuleUser`` answers from the hidden profile alone: it gives the facts the agent names, refuses
what it does not know, and ends with ``STOP`` once a ``done_when`` string appears (``TRANSFER``
when the agent hands it to a human). ``ModelUser`` asks a chat model (``envs.model_calls``: a local
HF model, an endpoint, or a ``RecordedClient`` over either) with tau2's user prompt; each turn is
sampled with a seed derived from (episode seed, turn), so the same seed gives the same conversation.

>>> profile = UserProfile("You want your order's status.", "Where is my order?", facts={"order_id": "W123"},
...                       done_when=("shipped",))
>>> user = RuleUser()
>>> user.start(profile, seed=0)
'Where is my order?'
>>> "W123" in user.respond([{"role": "assistant", "content": "What is your order ID?"}])
True
>>> ended(user.respond([{"role": "assistant", "content": "It has shipped."}])) == STOP
True
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from turngym.envs.dialogue.user import OUT_OF_SCOPE, STOP, TRANSFER, UserProfile, ended
from turngym.envs.messages import Message
from turngym.envs.model_calls import call_seed

FACT_TEMPLATES = ("My {label} is {value}.", "The {label} is {value}.", "Sure, my {label} is {value}.", "It's {value}.")
REFUSALS = ("I don't know that.", "Sorry, I don't have that information.", "I'm not sure, I don't know.")
ACKNOWLEDGEMENTS = ("Okay.", "Alright, go ahead.", "Sure.")
THANKS = ("Thank you, that's all I needed.", "Great, thanks for your help!", "Perfect, thank you.")
TRANSFERRED = ("Okay, I'll wait for the human agent.", "Alright, please transfer me.")

GUIDELINES = f"""You are playing a customer who contacts a customer service agent. Stay in that role.
Rules:
- Write one message at a time, in plain words, like a real customer; never write the agent's side.
- Follow the scenario below. Never invent information that is not in the scenario or in your private facts.
- Reveal a private fact only when the agent asks for it. If the agent asks for something you do not know, say you do not know.
- When your goal is met, or cannot be met, end your message with {STOP}.
- If the agent transfers you to a human agent, reply with {TRANSFER}.
- If the agent asks about something the scenario does not cover, reply with {OUT_OF_SCOPE}."""


def user_prompt(profile: UserProfile) -> str:
    """tau2's user-simulator system prompt: the global guidelines, the scenario and the private facts."""
    facts = "\n".join(f"- {name.replace('_', ' ')}: {value}" for name, value in profile.facts.items()) or "- (none)"
    return f"{GUIDELINES}\n\nScenario:\n{profile.scenario}\n\nPrivate facts (reveal only when asked):\n{facts}"


class _Seeded:
    """The state both simulators share: the profile, the episode's seed and the turn."""

    name: str
    profile: UserProfile | None = None
    seed: int = 0
    turn: int = 0

    def start(self, profile: UserProfile, seed: int) -> str:
        if not isinstance(profile, UserProfile):
            raise TypeError(f"expected a UserProfile, got {type(profile).__name__}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"expected an integer seed, got {seed!r}")
        self.profile, self.seed, self.turn = profile, int(seed), 0
        return profile.opening

    def _next_turn(self) -> UserProfile:
        if self.profile is None:
            raise RuntimeError(f"{type(self).__name__}.respond called before start(profile, seed)")
        self.turn += 1
        return self.profile


class RuleUser(_Seeded):
    """A deterministic user from the profile: facts when named, refusals, ``STOP`` on ``done_when``.

    The wording of each reply is drawn with a numpy generator seeded from (seed, turn): it varies
    with the seed and repeats with it. A reply never holds a value that is not in the profile.
    """

    def __init__(self, name: str = "rule"):
        self.name = name

    def respond(self, conversation: Sequence[Message]) -> str:
        profile = self._next_turn()
        rng = np.random.default_rng(call_seed(self.seed, self.turn))
        text = _last_assistant_text(conversation)
        lower = text.lower()
        if any(goal.lower() in lower for goal in profile.done_when):
            return f"{_pick(rng, THANKS)} {STOP}"
        if "transfer" in lower and "human" in lower:
            return f"{_pick(rng, TRANSFERRED)} {TRANSFER}"
        asked = [name for name in profile.facts if any(_mentions(lower, alias) for alias in profile.asks_for(name))]
        if asked:
            return " ".join(
                _pick(rng, FACT_TEMPLATES).format(label=profile.asks_for(n)[0], value=profile.facts[n]) for n in asked
            )
        return _pick(rng, REFUSALS if "?" in text else ACKNOWLEDGEMENTS)

    def fork(self) -> RuleUser:
        return copy.copy(self)


class ModelUser(_Seeded):
    """A user played by a chat model client (``complete(messages, *, seed, **settings) -> str``).

    The model sees tau2's prompt as the system message and the conversation with roles flipped
    (the agent's messages as ``user``, its own as ``assistant``); turn t is sampled with
    ``call_seed(seed, t)`` and ``settings``. A marker the model writes stays in its reply.
    Forks share the client (a model is never copied).
    """

    def __init__(self, client: Any, *, name: str = "model", settings: Mapping[str, Any] | None = None):
        if not hasattr(client, "complete"):
            raise TypeError(f"expected a model client with complete(messages, *, seed), got {type(client).__name__}")
        self.client = client
        self.name = name
        self.settings = dict(settings or {})

    def messages(self, conversation: Sequence[Message]) -> list[Message]:
        """What the model is asked: the user prompt, then the conversation from the user's side."""
        if self.profile is None:
            raise RuntimeError("ModelUser.messages called before start(profile, seed)")
        flipped: list[Message] = [{"role": "system", "content": user_prompt(self.profile)}]
        for message in conversation:
            role, content = message.get("role"), message.get("content")
            if role in ("user", "assistant") and isinstance(content, str) and content:
                flipped.append({"role": "assistant" if role == "user" else "user", "content": content})
        return flipped

    def respond(self, conversation: Sequence[Message]) -> str:
        self._next_turn()
        prompt = self.messages(conversation)
        reply = self.client.complete(prompt, seed=call_seed(self.seed, self.turn), **self.settings)
        if not isinstance(reply, str):
            raise TypeError(f"expected the user model's reply as text, got {type(reply).__name__}")
        text = reply.strip()
        marker = ended(text)
        return text[: text.index(marker) + len(marker)] if marker else text

    def fork(self) -> ModelUser:
        return copy.copy(self)

    def __deepcopy__(self, memo: dict) -> ModelUser:
        return self.fork()  # the profile is frozen, the rest immutable; the client is shared


def _last_assistant_text(conversation: Sequence[Message]) -> str:
    for message in reversed(conversation):
        if message.get("role") == "assistant":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""


def _mentions(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)", text) is not None


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]
