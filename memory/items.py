"""Item memory (Mem-alpha's semantic and episodic memory): texts with ids and timestamps, searchable, cheap to fork.

A store is an immutable base (its items, their BM25 postings, their embeddings once asked for),
shared by every fork, plus a small overlay of its own changes: new and updated items, and the base
ids deleted. ``fork()`` copies the overlay only. When the overlay outgrows ``compact_every``, the
store folds it into a new base (its forks keep the old one).

Search scores the base's index hits (minus ids deleted or replaced) and the overlay's items by
brute force with the same function, then merges them: ``bm25`` with the live store's statistics
(see ``turngym.memory.bm25``: equal to a bm25s index built from scratch), ``embedding`` by cosine
similarity of unit sentence embeddings, ``hybrid`` by reciprocal rank fusion of the two
(``HybridRetriever``).

Ids are the store's prefix and a counter ("s1", "s2", ...): deterministic, never reused.
Timestamps are the caller's logical time (a chunk or turn index), never the wall clock.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from turngym.memory.bm25 import Postings, idf, term_counts, term_scores, tokenize
from turngym.memory.embedding import EmbedderSlot
from turngym.memory.errors import MemoryIdError, MemoryStoreError
from turngym.tools.retrieval.base import Hit
from turngym.tools.retrieval.corpus import Document
from turngym.tools.retrieval.hybrid import HybridRetriever

SEARCH_METHODS = ("bm25", "embedding", "hybrid")
COMPACT_EVERY = 1024


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """One memory: its id, its text, and the logical time it was written."""

    id: str
    content: str
    timestamp: int


class MemoryHit(NamedTuple):
    item: MemoryItem
    score: float


class _Entry(NamedTuple):
    """An overlay item with what search needs; immutable, so forks share entries."""

    seq: int
    item: MemoryItem
    counts: dict[str, int]
    length: int


class _Base:
    """Items frozen at the last compaction, in id order, with their index; never changed, shared by forks."""

    def __init__(self, items: tuple[MemoryItem, ...], seqs: tuple[int, ...], postings: Postings) -> None:
        self.items, self.seqs, self.postings = items, seqs, postings
        self.row_of = {item.id: row for row, item in enumerate(items)}
        self.vectors: np.ndarray | None = None  # embeddings, computed on the first embedding search

    def embeddings(self, slot: EmbedderSlot) -> np.ndarray:
        if self.vectors is None:
            self.vectors = slot.encode([item.content for item in self.items], cache=False)
        return self.vectors

    def __deepcopy__(self, memo: dict[int, Any]) -> _Base:
        return self


class ItemMemory:
    """A forkable store of ``MemoryItem``s with ids ``prefix + n``.

    Args:
        prefix: the id prefix ("s" for semantic, "e" for episodic).
        stopwords: bm25s stopwords of the BM25 tokens (a language code, a list, or None).
        compact_every: overlay size (changes since the base) that triggers a compaction.
        embedder: the ``EmbedderSlot`` for embedding search (a fresh lazy one when None).
    """

    def __init__(
        self,
        prefix: str = "m",
        *,
        stopwords: str | list[str] | None = "en",
        compact_every: int = COMPACT_EVERY,
        embedder: EmbedderSlot | None = None,
    ) -> None:
        if not prefix or not prefix.isalpha():
            raise MemoryStoreError(f"prefix must be letters, like 's' or 'e', got {prefix!r}")
        if compact_every < 1:
            raise MemoryStoreError(f"compact_every must be >= 1, got {compact_every}")
        self.prefix, self.stopwords, self.compact_every = prefix, stopwords, compact_every
        self.embedder = embedder if embedder is not None else EmbedderSlot()
        self._base = _Base((), (), Postings.empty())
        self._over: dict[str, _Entry] = {}  # new and updated items
        self._deleted: set[str] = set()  # base ids deleted
        self._next, self._len, self._total_len, self._chars = 1, 0, 0, 0
        self._dead_rows: np.ndarray | None = None

    # --- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._over or (item_id in self._base.row_of and item_id not in self._deleted)

    def get(self, item_id: str) -> MemoryItem:
        """The item with id ``item_id``; ``MemoryIdError`` if there is none."""
        entry = self._over.get(item_id)
        if entry is not None:
            return entry.item
        row = self._base.row_of.get(item_id)
        if row is None or item_id in self._deleted:
            raise MemoryIdError(self._missing(item_id))
        return self._base.items[row]

    def __iter__(self) -> Iterator[MemoryItem]:
        """The items in id order (the order they were first inserted)."""
        base = ((s, it) for s, it in zip(self._base.seqs, self._base.items, strict=True) if self._live_base(it.id))
        over = sorted((e.seq, e.item) for e in self._over.values())
        return (item for _, item in heapq.merge(base, over, key=lambda p: p[0]))

    def recent(self, n: int) -> list[MemoryItem]:
        """The ``n`` items inserted last, oldest first."""
        if n <= 0:
            return []
        newest = sorted((e.seq, e.item) for e in self._over.values())[-n:]
        base = self._base
        for row in range(len(base.items) - 1, -1, -1):
            if len(newest) >= n and base.seqs[row] < newest[-n][0]:
                break
            if self._live_base(base.items[row].id):
                newest.append((base.seqs[row], base.items[row]))
        return [item for _, item in sorted(newest)[-n:]]

    def size_chars(self) -> int:
        """The characters of all item contents."""
        return self._chars

    # --- writing -------------------------------------------------------------------------------

    def insert(self, content: str, timestamp: int = 0) -> MemoryItem:
        """Add a new item and return it (with its new id)."""
        seq = self._next
        item = MemoryItem(f"{self.prefix}{seq}", _content(content), _timestamp(timestamp))
        self._next += 1
        self._put(seq, item)
        self._len += 1
        self._changed()
        return item

    def update(self, item_id: str, content: str, timestamp: int = 0) -> MemoryItem:
        """Replace an item's content (it keeps its id) and return the new item."""
        old = self.get(item_id)
        item = MemoryItem(item_id, _content(content), _timestamp(timestamp))
        self._forget(old)
        self._put(self._seq(item_id), item)
        self._changed()
        return item

    def delete(self, item_id: str) -> MemoryItem:
        """Remove an item and return it."""
        old = self.get(item_id)
        self._forget(old)
        self._over.pop(item_id, None)
        if item_id in self._base.row_of:
            self._deleted.add(item_id)
        self._len -= 1
        self._changed()
        return old

    def fork(self) -> ItemMemory:
        """An independent copy that shares the immutable base: costs O(overlay), not O(items)."""
        new = object.__new__(ItemMemory)
        new.__dict__.update(self.__dict__)
        new._over, new._deleted = dict(self._over), set(self._deleted)
        return new

    def compact(self) -> None:
        """Fold the overlay into a new base (postings merged without tokenizing again)."""
        old = self._base
        seqs_items = list(heapq.merge(
            ((s, it) for s, it in zip(old.seqs, old.items, strict=True) if self._live_base(it.id)),
            sorted((e.seq, e.item) for e in self._over.values()),
            key=lambda p: p[0],
        ))  # fmt: skip
        remap = np.full(len(old.items), -1, np.int64)
        extra = []
        for row, (_, item) in enumerate(seqs_items):
            entry = self._over.get(item.id)
            if entry is None:
                remap[old.row_of[item.id]] = row
            else:
                extra.append((row, entry.counts))
        postings = old.postings.rebuilt(remap, extra, len(seqs_items))
        base = _Base(tuple(it for _, it in seqs_items), tuple(s for s, _ in seqs_items), postings)
        if old.vectors is not None and seqs_items:
            vectors = np.zeros((len(seqs_items), old.vectors.shape[1]), np.float32)
            kept = remap >= 0
            vectors[remap[kept]] = old.vectors[kept]
            if extra:
                vectors[[r for r, _ in extra]] = self.embedder.encode([base.items[r].content for r, _ in extra])
            base.vectors = vectors
        self._base, self._over, self._deleted, self._dead_rows = base, {}, set(), None

    # --- search --------------------------------------------------------------------------------

    def search(self, query: str, k: int = 5, method: str = "bm25") -> list[MemoryHit]:
        """The ``k`` best items for ``query``, best first; ties go to the older item.

        ``method``: ``bm25`` (items sharing no token with the query are no hits), ``embedding``
        (cosine similarity; loads the embedder on first use), or ``hybrid`` (RRF of both).
        """
        if not isinstance(query, str):
            raise MemoryStoreError(f"query must be a str, got {type(query).__name__}")
        if method not in SEARCH_METHODS:
            raise MemoryStoreError(f"search method must be one of {', '.join(SEARCH_METHODS)}, got {method!r}")
        if k < 0:
            raise MemoryStoreError(f"k must be >= 0, got {k}")
        if k == 0 or self._len == 0:
            return []
        if method == "hybrid":
            fused = HybridRetriever([_View(self, "bm25"), _View(self, "embedding")], fusion="rrf").search_batch([query], k)[0]
            return [MemoryHit(self.get(hit.doc_id), hit.score) for hit in fused]
        rows, base_scores, entries, over_scores = (self._bm25 if method == "bm25" else self._cosine)(query)
        best = _top(base_scores, rows, k)
        hits = [(-base_scores[r], self._base.seqs[r], self._base.items[r]) for r in best]
        hits += [(-s, e.seq, e.item) for e, s in zip(entries, over_scores, strict=True) if s > float("-inf")]
        return [MemoryHit(item, float(-neg)) for neg, _, item in heapq.nsmallest(k, hits, key=lambda h: (h[0], h[1]))]

    def _bm25(self, query: str) -> tuple[np.ndarray, np.ndarray, list[_Entry], np.ndarray]:
        """Scores of base rows and overlay entries; non-matches are ``-inf``."""
        terms = Counter(tokenize([query], self.stopwords)[0])
        base, entries = self._base, list(self._over.values())
        n, avg_len = self._len, self._total_len / self._len
        dead = self._dead()
        over_len = np.array([e.length for e in entries], np.float64)
        base_rows, base_parts, over_scores = [], [], np.zeros(len(entries))
        for term, times in terms.items():
            rows, tfs = base.postings.column(term)
            over_tf = np.array([e.counts.get(term, 0) for e in entries], np.float64)
            df = len(rows) - (int(np.isin(dead, rows).sum()) if len(rows) and len(dead) else 0) + int(np.count_nonzero(over_tf))
            if df == 0:
                continue
            term_idf = times * idf(df, n)
            if len(rows):
                base_rows.append(rows)
                base_parts.append(term_scores(tfs, base.postings.doc_len[rows], term_idf, avg_len))
            if entries:
                over_scores += term_scores(over_tf, over_len, term_idf, avg_len)
        over_scores[over_scores <= 0] = float("-inf")
        if not base_rows:
            return np.zeros(0, np.int64), np.zeros(0), entries, over_scores
        rows = np.concatenate(base_rows)
        scores = np.bincount(rows, weights=np.concatenate(base_parts), minlength=base.postings.num_rows)
        scores[dead] = 0.0
        hit_rows = np.flatnonzero(scores > 0)
        full = np.full(base.postings.num_rows, float("-inf"))
        full[hit_rows] = scores[hit_rows]
        return hit_rows, full, entries, over_scores

    def _cosine(self, query: str) -> tuple[np.ndarray, np.ndarray, list[_Entry], np.ndarray]:
        entries = list(self._over.values())
        if not query.strip():
            return np.zeros(0, np.int64), np.zeros(0), [], np.zeros(0)
        q = self.embedder.encode([query], cache=False)[0]
        over_scores = self.embedder.encode([e.item.content for e in entries]) @ q if entries else np.zeros(0)
        if not self._base.items:
            return np.zeros(0, np.int64), np.zeros(0), entries, over_scores.astype(np.float64)
        scores = (self._base.embeddings(self.embedder) @ q).astype(np.float64)
        scores[self._dead()] = float("-inf")
        return np.flatnonzero(scores > float("-inf")), scores, entries, over_scores.astype(np.float64)

    # --- saving --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        items = [{"id": it.id, "content": it.content, "timestamp": it.timestamp} for it in self]
        return {"prefix": self.prefix, "next_id": self._next, "items": items}

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> ItemMemory:
        """A store from ``to_dict``'s output, compacted into one base (``kwargs`` as for ``__init__``)."""
        store = cls(data["prefix"], **kwargs)
        items = [MemoryItem(d["id"], _content(d["content"]), _timestamp(d["timestamp"])) for d in data["items"]]
        for item in items:
            store._put(store._seq(item.id), item)
        if len(store._over) != len(items):
            raise MemoryStoreError(f"item ids must be unique, got {len(items)} items with {len(store._over)} ids")
        store._len, store._next = len(items), int(data["next_id"])
        if items and store._seq(items[-1].id) >= store._next:
            raise MemoryStoreError(f"next_id must exceed every item's number, got {store._next} with item {items[-1].id!r}")
        store.compact()
        return store

    # --- internals -----------------------------------------------------------------------------

    def _put(self, seq: int, item: MemoryItem) -> None:
        counts = term_counts([item.content], self.stopwords)[0]
        entry = _Entry(seq, item, counts, sum(counts.values()))
        self._over[item.id] = entry
        self._total_len += entry.length
        self._chars += len(item.content)

    def _forget(self, item: MemoryItem) -> None:
        """Take a live item's length out of the running totals."""
        entry = self._over.get(item.id)
        length = entry.length if entry is not None else int(self._base.postings.doc_len[self._base.row_of[item.id]])
        self._total_len -= length
        self._chars -= len(item.content)

    def _changed(self) -> None:
        self._dead_rows = None
        if len(self._over) + len(self._deleted) > self.compact_every:
            self.compact()

    def _live_base(self, item_id: str) -> bool:
        return item_id not in self._deleted and item_id not in self._over

    def _dead(self) -> np.ndarray:
        """Base rows that are deleted or replaced by the overlay."""
        if self._dead_rows is None:
            row_of = self._base.row_of
            ids = [i for i in self._over if i in row_of] + list(self._deleted)
            self._dead_rows = np.array(sorted(row_of[i] for i in ids), np.int64)
        return self._dead_rows

    def _seq(self, item_id: str) -> int:
        number = item_id[len(self.prefix) :]
        if not item_id.startswith(self.prefix) or not number.isdigit():
            raise MemoryIdError(self._missing(item_id))
        return int(number)

    def _missing(self, item_id: object) -> str:
        shown = ", ".join(it.id for it in self.recent(5)) or "none, the store is empty"
        return f"no item with id {item_id!r}; ids look like '{self.prefix}12' (latest: {shown})"


class _View:
    """One search method of a store as a ``Retriever`` (what ``HybridRetriever`` fuses)."""

    def __init__(self, store: ItemMemory, method: str) -> None:
        self.store, self.method = store, method

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        return [
            [Hit(Document(h.item.id, "", h.item.content), h.score) for h in self.store.search(q, k, self.method)] for q in queries
        ]


def _top(scores: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` (or a few more, on ties) best of ``rows`` by ``scores``."""
    if len(rows) <= k:
        return rows
    values = scores[rows]
    kth = np.partition(values, len(values) - k)[len(values) - k]
    return rows[values >= kth]


def _content(content: object) -> str:
    if not isinstance(content, str):
        raise MemoryStoreError(f"content must be a str, got {type(content).__name__}")
    if not content.strip():
        raise MemoryStoreError("content must be non-empty text, got an empty or blank string")
    return content


def _timestamp(timestamp: object) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise MemoryStoreError(f"timestamp must be an int >= 0 (a chunk or turn index), got {timestamp!r}")
    return timestamp
