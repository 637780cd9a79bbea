"""The sentence embedder of memory stores, loaded on first use and shared by a bank and all its forks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from turngym.tools.retrieval.embedder import Embedder, embed, load_embedder


class EmbedderSlot:
    """Holds one embedder (the packaged all-MiniLM-L6-v2 by default, read offline on first use) and
    the vectors of the texts already embedded with ``cache=True``. Forks and deep copies share it:
    it is a cache, never part of a store's state."""

    def __init__(self, embedder: Embedder | None = None, *, batch_size: int = 64) -> None:
        if embedder is not None and not isinstance(embedder, Embedder):
            raise TypeError(f"expected an embedder with encode(texts, ...), got {type(embedder).__name__}")
        self._embedder = embedder
        self._loaded_default = False
        self.batch_size = batch_size
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder, self._loaded_default = load_embedder(), True
        return self._embedder

    def encode(self, texts: Sequence[str], *, cache: bool = True) -> np.ndarray:
        """Unit-length float32 rows, one per text; with ``cache`` the new vectors are kept by text."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        fresh = dict(zip(missing, embed(self.embedder, missing, batch_size=self.batch_size), strict=True)) if missing else {}
        if cache:
            self._vectors.update(fresh)
        rows = [self._vectors[t] if t in self._vectors else fresh[t] for t in texts]
        return np.stack(rows) if rows else np.zeros((0, 0), np.float32)

    def __deepcopy__(self, memo: dict[int, Any]) -> EmbedderSlot:
        return self

    def __getstate__(self) -> dict[str, Any]:
        """Pickles without the cached vectors, and without the default model (a worker reads its own)."""
        return {"batch_size": self.batch_size, "embedder": None if self._loaded_default else self._embedder}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["embedder"], batch_size=state["batch_size"])
