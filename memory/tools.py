"""Mem-alpha's memory tools over a ``MemoryBank`` the env passes as the hidden argument ``memory``,
and ``memory_from_action`` for MemAgent-style agents whose action is the new memory text.

Core memory: insert appends a line, update overwrites the block (``memory_id`` is ignored), search
is refused (core memory is always in the system prompt). Semantic and episodic memory: items with
ids ("s3", "e7"). What a tool writes is stamped with ``memory.now``. A bad id or type, or a write
over the core bound, is a ``ToolError`` the model reads.
"""

from __future__ import annotations

import re
from typing import Literal

from turngym.memory.errors import MemoryStoreError
from turngym.memory.store import MemoryBank, shorten
from turngym.tools.core import Hidden, ToolError, tool

MemoryType = Literal["core", "semantic", "episodic"]
SearchMethod = Literal["bm25", "text-embedding"]
SEARCH_TOP_K = 5
SHOWN_CHARS = 300
_METHODS = {"bm25": "bm25", "text-embedding": "embedding"}
_MEMORY_BLOCK = re.compile(r"<memory>(.*?)(?:</memory>|\Z)", re.DOTALL)


@tool
def new_memory_insert(memory_type: MemoryType, content: str, memory: Hidden[MemoryBank]) -> str:
    """Add to memory: a new line of core memory, or a new semantic or episodic item.

    Args:
        memory_type: core (the paragraph always shown to you), semantic (facts) or episodic (events).
        content: the text to store.
    """
    with _as_tool_error("new_memory_insert"):
        if memory_type == "core":
            memory.core.append(content)
            return f"core memory appended ({len(memory.core.text)}/{memory.core.max_chars} characters)"
        item = memory.items(memory_type).insert(content, memory.now)
        return f"inserted {memory_type} memory {item.id}: {shorten(item.content, SHOWN_CHARS)}"


@tool
def memory_update(memory_type: MemoryType, new_content: str, memory: Hidden[MemoryBank], memory_id: str = "") -> str:
    """Replace a memory: the whole core memory, or the content of a semantic or episodic item.

    Args:
        memory_type: core, semantic or episodic.
        new_content: the new text.
        memory_id: the id of the item to replace, like s3 or e7 (ignored for core memory).
    """
    with _as_tool_error("memory_update"):
        if memory_type == "core":
            memory.core.overwrite(new_content)
            return f"core memory replaced ({len(memory.core.text)}/{memory.core.max_chars} characters)"
        item = memory.items(memory_type).update(_item_id(memory_id, memory_type), new_content, memory.now)
        return f"updated {memory_type} memory {item.id}: {shorten(item.content, SHOWN_CHARS)}"


@tool
def memory_delete(memory_type: MemoryType, memory_id: str, memory: Hidden[MemoryBank]) -> str:
    """Delete a semantic or episodic memory item (core memory is cleared with memory_update).

    Args:
        memory_type: semantic or episodic.
        memory_id: the id of the item, like s3 or e7.
    """
    with _as_tool_error("memory_delete"):
        if memory_type == "core":
            raise ToolError("memory_delete: core memory has no items; clear or rewrite it with memory_update", "arguments")
        item = memory.items(memory_type).delete(_item_id(memory_id, memory_type))
        return f"deleted {memory_type} memory {item.id}"


@tool
def search_memory(memory_type: MemoryType, query: str, memory: Hidden[MemoryBank], search_method: SearchMethod = "bm25") -> str:
    """Search semantic or episodic memory; returns the best items with their ids.

    Args:
        memory_type: semantic or episodic (core memory is always shown to you).
        query: what to look for.
        search_method: bm25 (shared words) or text-embedding (similar meaning).
    """
    with _as_tool_error("search_memory"):
        if memory_type == "core":
            raise ToolError(
                "search_memory: searches 'semantic' or 'episodic' memory, got 'core' (core memory is always shown)", "arguments"
            )
        hits = memory.items(memory_type).search(query, SEARCH_TOP_K, _METHODS[search_method])
        if not hits:
            return f"no {memory_type} memory matches {query!r}"
        return "\n".join(f"[{h.item.id}] {shorten(h.item.content, SHOWN_CHARS)}" for h in hits)


MEMORY_TOOLS = (new_memory_insert, memory_update, memory_delete, search_memory)


def memory_from_action(text: str, max_chars: int) -> str:
    """The new memory of a MemAgent-style action: the last ``<memory>...</memory>`` block (an
    unclosed one runs to the end), else the whole text; stripped and cut to ``max_chars``."""
    if not isinstance(text, str):
        raise TypeError(f"expected the action text as a str, got {type(text).__name__}")
    if max_chars < 0:
        raise ValueError(f"max_chars must be >= 0, got {max_chars}")
    blocks = _MEMORY_BLOCK.findall(text)
    return (blocks[-1] if blocks else text).strip()[:max_chars]


class _as_tool_error:
    """Turns a store's refusal into a ``ToolError``: a bad id is an ``arguments`` error, the rest ``raised``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, MemoryStoreError):
            raise ToolError(f"{self.name}: {exc}", "arguments" if isinstance(exc, LookupError) else "raised") from None
        return False


def _item_id(memory_id: str, memory_type: str) -> str:
    if not memory_id:
        prefix = "s" if memory_type == "semantic" else "e"
        raise ToolError(f"memory_id is required for {memory_type} memory, like {prefix}3; got none", "arguments")
    return memory_id
