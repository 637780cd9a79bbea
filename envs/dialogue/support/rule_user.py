"""``SupportRuleUser``: a rule-based ``UserSimulator`` for Support (reads the agent's last message).

In this order: the agent transfers ("transferring you") -> ``TRANSFER``; the goal is met (a
``done_when`` phrase) or refused ("cannot", "can't", "unable to") -> ``STOP``; the agent asks for
facts (a fact's alias appears) -> "My <fact> is <value>." for each, never anything not in the
profile; the agent asks to proceed -> "Yes, please proceed."; otherwise the opening again. With no
customer message yet (a conversation the agent opened) it says the opening. Deterministic: the
seed is kept but no choice needs it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from turngym.envs.dialogue.user import STOP, TRANSFER, UserProfile
from turngym.envs.messages import Message

REFUSALS = ("cannot", "can't", "unable to")


class SupportRuleUser:
    name = "rule"

    def __init__(self) -> None:
        self.profile: UserProfile | None = None
        self.seed: int | None = None

    def start(self, profile: UserProfile, seed: int) -> str:
        self.profile, self.seed = profile, seed
        return profile.opening

    def respond(self, conversation: Sequence[Message]) -> str:
        profile = self.profile
        if profile is None:
            raise RuntimeError("SupportRuleUser.respond before start(profile, seed)")
        if not any(m["role"] == "user" for m in conversation):
            return profile.opening
        agent = next((m.get("content") or "" for m in reversed(conversation) if m["role"] == "assistant"), "").lower()
        if "transferring you" in agent:
            return f"Okay, thank you. {TRANSFER}"
        if any(p.lower() in agent for p in profile.done_when) or any(r in agent for r in REFUSALS):
            return f"Thank you, that's all. {STOP}"
        asked = [name for name in profile.facts if any(alias in agent for alias in profile.asks_for(name))]
        if asked:
            return " ".join(f"My {name.replace('_', ' ')} is {profile.facts[name]}." for name in asked)
        if "proceed" in agent:
            return "Yes, please proceed."
        return f"Sorry, I don't follow. {profile.opening}"

    def fork(self) -> SupportRuleUser:
        return copy.deepcopy(self)
