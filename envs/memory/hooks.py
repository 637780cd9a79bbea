"""Step-level memory rewards: store what will be asked when it appears, replace stale facts, find them, stay small.

One hook, ``memory``, reads what the env reports in the step's ``extras`` and gives parts
``memory/store``, ``memory/keep``, ``memory/update``, ``memory/search`` and ``memory/compression`` (each
only on the steps it applies to).
"""

from __future__ import annotations

import re
from typing import Any

from turngym.envs.hooks.base import StepContext


def fact_in_text(text: str, fact: Any, subject_named: bool = False) -> bool:
    """Whether ``text`` states the fact: its subject and value (for a TTL example: its colour, legs and
    class, as whole words) in one text. ``subject_named``: the subject is named where the text will be
    read (a question shown with every chunk), so the value alone, as a whole phrase, states it."""
    low = text.lower()
    if fact.kind == "example":  # subject "specimen <colour> <legs>"
        words = set(re.findall(r"\w+", low))
        return all(w in words for w in [*fact.subject.lower().split()[1:], fact.value.lower()])
    if subject_named:
        return re.search(rf"(?<!\w){re.escape(fact.value.lower())}(?!\w)", low) is not None
    return fact.subject.lower() in low and fact.value.lower() in low


def fact_held(memory: Any, fact: Any, subject_named: bool = False) -> bool:
    """Whether a memory (overwrite text or a ``MemoryBank``) holds the fact in one place (a line or an item)."""
    if isinstance(memory, str):
        return any(fact_in_text(line, fact, subject_named) for line in memory.splitlines())
    texts = [memory.core.text, *(item.content for item in memory.semantic), *(item.content for item in memory.episodic)]
    return any(fact_in_text(t, fact, subject_named) for t in texts)


def memory_rewards(ctx: StepContext) -> dict[str, float] | None:
    """``memory/store``: the share of the chunk's needed facts now held; ``memory/keep``: the share of the
    needed facts read in earlier chunks (their newest versions so far) still held; ``memory/update``: the share of its
    needed updates that replaced the stale fact; ``memory/search``: the share of needed facts a search
    returned; ``memory/compression``: 0.05 x (1 - memory / stream characters), at the end."""
    extras = ctx.extras or {}
    phase = extras.get("phase")
    parts: dict[str, float] = {}
    if phase == "chunk":
        if extras["needed_here"]:
            parts["store"] = len(extras["stored"]) / len(extras["needed_here"])
        if extras["needed_before"]:
            parts["keep"] = len(extras["kept"]) / len(extras["needed_before"])
        if extras["updates_here"]:
            parts["update"] = len(extras["replaced"]) / len(extras["updates_here"])
    elif phase == "search" and extras["searched"]:
        parts["search"] = sum(extras["found"]) / max(len(extras["found"]), 1)
    elif phase == "answer" and "stream_chars" in extras:
        parts["compression"] = 0.05 * max(0.0, 1.0 - extras["memory_chars"] / max(extras["stream_chars"], 1))
    return parts or None


memory_rewards.name = "memory"  # type: ignore[attr-defined]
MEMORY_HOOKS = (memory_rewards,)
