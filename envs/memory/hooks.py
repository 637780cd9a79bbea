"""Step-level memory rewards: store what will be asked when it appears, replace stale facts, find them, stay small.

One hook, ``memory``, reads what the env reports in the step's ``extras`` and gives parts
``memory/store``, ``memory/update``, ``memory/search`` and ``memory/compression`` (each only on the
steps it applies to).
"""

from __future__ import annotations

from typing import Any

from turngym.envs.hooks.base import StepContext


def fact_held(memory: Any, fact: Any) -> bool:
    """Whether a memory (overwrite text or a ``MemoryBank``) holds the fact: its subject and value in one place."""
    subject, value = fact.subject.lower(), fact.value.lower()
    if isinstance(memory, str):
        return any(subject in line.lower() and value in line.lower() for line in memory.splitlines())
    texts = [memory.core.text, *(item.content for item in memory.semantic), *(item.content for item in memory.episodic)]
    return any(subject in t.lower() and value in t.lower() for t in texts)


def memory_rewards(ctx: StepContext) -> dict[str, float] | None:
    """``memory/store``: the share of the chunk's needed facts now held; ``memory/update``: the share of its
    needed updates that replaced the stale fact; ``memory/search``: the share of needed facts a search
    returned; ``memory/compression``: 0.05 x (1 - memory / stream characters), at the end."""
    extras = ctx.extras or {}
    phase = extras.get("phase")
    parts: dict[str, float] = {}
    if phase == "chunk":
        if extras["needed_here"]:
            parts["store"] = len(extras["stored"]) / len(extras["needed_here"])
        if extras["updates_here"]:
            parts["update"] = len(extras["replaced"]) / len(extras["updates_here"])
    elif phase == "search" and extras["searched"]:
        parts["search"] = sum(extras["found"]) / max(len(extras["found"]), 1)
    elif phase == "answer" and "stream_chars" in extras:
        parts["compression"] = 0.05 * max(0.0, 1.0 - extras["memory_chars"] / max(extras["stream_chars"], 1))
    return parts or None


memory_rewards.name = "memory"  # type: ignore[attr-defined]
MEMORY_HOOKS = (memory_rewards,)
