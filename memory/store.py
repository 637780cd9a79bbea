"""The memory bank: Mem-alpha's core, semantic and episodic memory, plus optional key-value facts.

``MemoryBank.fork()`` costs O(changes since the last compaction), never O(items): item and fact
stores share an immutable base with their forks (see ``turngym.memory.items``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from turngym.memory.embedding import EmbedderSlot
from turngym.memory.errors import MemoryIdError, MemoryStoreError
from turngym.memory.items import COMPACT_EVERY, ItemMemory, MemoryItem

MEMORY_TYPES = ("core", "semantic", "episodic")
BANK_FORMAT = "turngym.memory/1"
CORE_MAX_CHARS = 2000


class CoreMemory:
    """One paragraph always shown to the agent, at most ``max_chars`` characters (Unicode code points).

    Writes over the bound are refused with a ``MemoryStoreError`` that says by how much, so a tool
    can return it to the model as an error observation.
    """

    def __init__(self, text: str = "", max_chars: int = CORE_MAX_CHARS) -> None:
        if max_chars < 1:
            raise MemoryStoreError(f"max_chars must be >= 1, got {max_chars}")
        self.max_chars = max_chars
        self._text = ""
        self.overwrite(text)

    @property
    def text(self) -> str:
        return self._text

    def overwrite(self, text: str) -> str:
        """Replace the whole block; returns the new text."""
        if not isinstance(text, str):
            raise MemoryStoreError(f"core memory text must be a str, got {type(text).__name__}")
        if len(text) > self.max_chars:
            raise MemoryStoreError(
                f"core memory holds at most {self.max_chars} characters, got {len(text)}; "
                f"shorten it by {len(text) - self.max_chars} or move details to semantic/episodic memory"
            )
        self._text = text
        return text

    def append(self, text: str) -> str:
        """Add ``text`` on a new line; returns the new block."""
        if not isinstance(text, str):
            raise MemoryStoreError(f"core memory text must be a str, got {type(text).__name__}")
        return self.overwrite(f"{self._text}\n{text}" if self._text else text)

    def fork(self) -> CoreMemory:
        new = object.__new__(CoreMemory)
        new.max_chars, new._text = self.max_chars, self._text
        return new


@dataclass(frozen=True, slots=True)
class Fact:
    value: str
    timestamp: int


class KeyValueMemory:
    """Facts ``key -> Fact(value, timestamp)``; a frozen base dict shared by forks plus an overlay."""

    def __init__(self, compact_every: int = COMPACT_EVERY) -> None:
        self.compact_every = compact_every
        self._base: dict[str, Fact] = {}  # never mutated once built
        self._over: dict[str, Fact] = {}
        self._deleted: set[str] = set()
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __contains__(self, key: object) -> bool:
        return key in self._over or (key in self._base and key not in self._deleted)

    def get(self, key: str) -> Fact:
        if key in self._over:
            return self._over[key]
        if key in self._base and key not in self._deleted:
            return self._base[key]
        raise MemoryIdError(f"no fact with key {key!r}")

    def set(self, key: str, value: str, timestamp: int = 0) -> Fact:
        if not isinstance(key, str) or not key:
            raise MemoryStoreError(f"a fact key must be a non-empty str, got {key!r}")
        if not isinstance(value, str):
            raise MemoryStoreError(f"a fact value must be a str, got {type(value).__name__}")
        self._len += key not in self
        fact = self._over[key] = Fact(value, timestamp)
        self._deleted.discard(key)
        self._maybe_compact()
        return fact

    def delete(self, key: str) -> Fact:
        fact = self.get(key)
        self._over.pop(key, None)
        if key in self._base:
            self._deleted.add(key)
        self._len -= 1
        self._maybe_compact()
        return fact

    def __iter__(self) -> Iterator[str]:
        """The keys, sorted."""
        return iter(sorted({k for k in self._base if k not in self._deleted} | set(self._over)))

    def items(self) -> list[tuple[str, Fact]]:
        return [(k, self.get(k)) for k in self]

    def size_chars(self) -> int:
        return sum(len(k) + len(f.value) for k, f in self.items())

    def fork(self) -> KeyValueMemory:
        new = object.__new__(KeyValueMemory)
        new.__dict__.update(self.__dict__)
        new._over, new._deleted = dict(self._over), set(self._deleted)
        return new

    def _maybe_compact(self) -> None:
        if len(self._over) + len(self._deleted) > self.compact_every:
            base = {k: f for k, f in self._base.items() if k not in self._deleted}
            base.update(self._over)
            self._base, self._over, self._deleted = base, {}, set()


class MemoryBank:
    """Core, semantic ("s1", ...) and episodic ("e1", ...) memory, and key-value facts when ``facts=True``.

    ``now`` is the env's logical time (chunk or turn index) that tools stamp on what they write.
    One lazily loaded embedder serves both item stores and every fork.
    """

    def __init__(
        self,
        *,
        core_max_chars: int = CORE_MAX_CHARS,
        facts: bool = False,
        embedder: Any = None,
        compact_every: int = COMPACT_EVERY,
        stopwords: str | list[str] | None = "en",
    ) -> None:
        slot = embedder if isinstance(embedder, EmbedderSlot) else EmbedderSlot(embedder)
        self.now = 0
        self.core = CoreMemory(max_chars=core_max_chars)
        options = {"stopwords": stopwords, "compact_every": compact_every, "embedder": slot}
        self.semantic = ItemMemory("s", **options)
        self.episodic = ItemMemory("e", **options)
        self.facts = KeyValueMemory(compact_every) if facts else None

    def items(self, memory_type: str) -> ItemMemory:
        """The item store of ``memory_type`` ("semantic" or "episodic")."""
        if memory_type == "semantic":
            return self.semantic
        if memory_type == "episodic":
            return self.episodic
        raise MemoryStoreError(f"expected memory type 'semantic' or 'episodic' (stores of items with ids), got {memory_type!r}")

    def fork(self) -> MemoryBank:
        new = object.__new__(MemoryBank)
        new.now, new.core = self.now, self.core.fork()
        new.semantic, new.episodic = self.semantic.fork(), self.episodic.fork()
        new.facts = None if self.facts is None else self.facts.fork()
        return new

    def size_chars(self) -> int:
        """Characters held: core text, item contents, fact keys and values (a compression measure)."""
        facts = 0 if self.facts is None else self.facts.size_chars()
        return len(self.core.text) + self.semantic.size_chars() + self.episodic.size_chars() + facts

    def render(self, max_items: int = 20, max_item_chars: int = 200) -> str:
        """The memory as system-prompt text: the core block in full; of each item store its
        ``max_items`` newest items, each cut to ``max_item_chars``, and how many more search can
        find; the facts (same bounds). At most ~``2 * max_items * (max_item_chars + 16)`` characters
        beyond the core block."""
        parts = [_block("core_memory", [self.core.text] if self.core.text else [])]
        for name, store in (("semantic_memory", self.semantic), ("episodic_memory", self.episodic)):
            shown = store.recent(max_items)
            lines = [f"[{it.id}] {shorten(it.content, max_item_chars)}" for it in shown]
            if len(store) > len(shown):
                lines.append(f"({len(store) - len(shown)} older items not shown; search_memory finds them)")
            parts.append(_block(name, lines))
        if self.facts is not None:
            facts = self.facts.items()
            lines = [f"{k}: {shorten(f.value, max_item_chars)}" for k, f in facts[:max_items]]
            if len(facts) > max_items:
                lines.append(f"({len(facts) - max_items} more facts not shown)")
            parts.append(_block("facts", lines))
        return "\n".join(parts)

    # --- saving --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        facts = None if self.facts is None else {k: {"value": f.value, "timestamp": f.timestamp} for k, f in self.facts.items()}
        return {
            "format": BANK_FORMAT,
            "now": self.now,
            "core": {"text": self.core.text, "max_chars": self.core.max_chars},
            "semantic": self.semantic.to_dict(),
            "episodic": self.episodic.to_dict(),
            "facts": facts,
            "options": {"compact_every": self.semantic.compact_every, "stopwords": self.semantic.stopwords},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], embedder: Any = None) -> MemoryBank:
        if not isinstance(data, dict) or data.get("format") != BANK_FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise MemoryStoreError(f"expected a memory bank of format {BANK_FORMAT!r}, got {got!r}")
        options = data["options"]
        bank = cls(core_max_chars=data["core"]["max_chars"], facts=data["facts"] is not None, embedder=embedder, **options)
        bank.now = data["now"]
        bank.core.overwrite(data["core"]["text"])
        slot = bank.semantic.embedder
        bank.semantic = ItemMemory.from_dict(data["semantic"], embedder=slot, **options)
        bank.episodic = ItemMemory.from_dict(data["episodic"], embedder=slot, **options)
        for key, fact in (data["facts"] or {}).items():
            bank.facts.set(key, fact["value"], fact["timestamp"])
        return bank

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the bank as one JSON file."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str], embedder: Any = None) -> MemoryBank:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), embedder=embedder)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemoryBank) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _block(tag: str, lines: list[str]) -> str:
    return f"<{tag}>\n" + ("\n".join(lines) if lines else "Empty.") + f"\n</{tag}>"


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters (an ellipsis marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["MEMORY_TYPES", "CoreMemory", "Fact", "KeyValueMemory", "MemoryBank", "MemoryItem"]
