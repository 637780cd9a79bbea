"""Memory for agents: Mem-alpha's core, semantic and episodic memory (plus key-value facts) in a
forkable, searchable, saveable ``MemoryBank``, and the memory tools that act on it."""

from turngym.memory.errors import MemoryIdError, MemoryStoreError
from turngym.memory.items import ItemMemory, MemoryHit, MemoryItem
from turngym.memory.store import MEMORY_TYPES, CoreMemory, Fact, KeyValueMemory, MemoryBank
from turngym.memory.tools import MEMORY_TOOLS, memory_from_action

__all__ = [
    "MEMORY_TOOLS",
    "MEMORY_TYPES",
    "CoreMemory",
    "Fact",
    "ItemMemory",
    "KeyValueMemory",
    "MemoryBank",
    "MemoryHit",
    "MemoryIdError",
    "MemoryItem",
    "MemoryStoreError",
    "memory_from_action",
]
