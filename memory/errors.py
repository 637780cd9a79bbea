"""The memory stores' errors: what a store refuses, in words a memory tool passes on to the model."""

from __future__ import annotations

from turngym.envs.errors import TurngymError


class MemoryStoreError(TurngymError, ValueError):
    """A store refused an operation: text over the core bound, empty content, an unknown memory type."""


class MemoryIdError(MemoryStoreError, LookupError):
    """No item (or fact) with that id (or key) in the store."""
