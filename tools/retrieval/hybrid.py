"""Hybrid retrieval: fuse several retrievers (e.g. BM25 + dense) by normalised, weighted scores or by RRF.

``fusion="weighted"`` (the default): each retriever's scores over its top ``depth`` hits are
min-max normalised per query (best hit 1, its ``depth``-th 0), a document it did not return
counts 0, and the fused score is ``sum(weight_i * normalised_i)``. Scores keep how much better
one hit is than the next, which rank fusion throws away: on the Wikipedia retrieval questions
(``bench/retrieval_quality.py``) RRF of BM25 + MiniLM scores below BM25 alone, the weighted sum
above both. ``fusion="rrf"``: reciprocal rank fusion, ``sum(1 / (k_rrf + rank))``, ranks only.
"""

from __future__ import annotations

from collections.abc import Sequence

from turngym.tools.retrieval.base import Hit, Retriever
from turngym.tools.retrieval.corpus import Document

FUSIONS = ("weighted", "rrf")
DEPTH = 50
K_RRF = 60
BM25_DENSE_WEIGHTS = (0.55, 0.45)
"""Weights of BM25 and MiniLM dense: the best dense weight (steps of 0.05) on all 3,316 dev questions
of the Wikipedia retrieval set (``bench/retrieval_quality.py``); the package's hybrid indexes use them."""


class HybridRetriever:
    """Fuse the top ``depth`` hits of several retrievers, each asked once per batch.

    ``weights`` (weighted fusion; default equal) are one non-negative number per retriever. Ties
    go to the document with the better rank in the earliest retriever. ``Hit.score`` is the fused
    score. A retriever that returns a document twice counts it once.
    """

    def __init__(
        self,
        retrievers: Sequence[Retriever],
        *,
        fusion: str = "weighted",
        weights: Sequence[float] | None = None,
        k_rrf: float | None = None,
        depth: int = DEPTH,
    ) -> None:
        if not retrievers:
            raise ValueError("HybridRetriever needs at least one retriever, got none")
        for r in retrievers:
            if not isinstance(r, Retriever):
                raise TypeError(f"expected retrievers with search_batch(queries, k), got {type(r).__name__}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        if fusion == "rrf" and weights is not None:
            raise ValueError("weights apply to fusion='weighted'; RRF uses ranks only")
        if fusion == "weighted" and k_rrf is not None:
            raise ValueError("k_rrf applies to fusion='rrf', not to the default fusion='weighted'")
        if k_rrf is not None and k_rrf < 0:
            raise ValueError(f"k_rrf must be >= 0, got {k_rrf}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if weights is None:
            weights = [1.0 / len(retrievers)] * len(retrievers)
        weights = [float(w) for w in weights]
        if len(weights) != len(retrievers) or any(w < 0 for w in weights) or not any(weights):
            raise ValueError(f"expected {len(retrievers)} non-negative weights (one per retriever, not all 0), got {weights}")
        self.retrievers = list(retrievers)
        self.fusion = fusion
        self.weights = weights
        self.k_rrf = K_RRF if k_rrf is None else k_rrf
        self.depth = depth

    @property
    def documents(self) -> list[Document]:
        """The documents of the first retriever that exposes them (sub-indices share one corpus)."""
        for r in self.retrievers:
            docs = getattr(r, "documents", None)
            if docs is not None:
                return docs
        raise AttributeError("none of the fused retrievers exposes its documents")

    def get(self, doc_id: str) -> Document:
        """The document with id ``doc_id``, from the first retriever that has ``get``."""
        for r in self.retrievers:
            get = getattr(r, "get", None)
            if get is not None:
                return get(doc_id)
        raise AttributeError("none of the fused retrievers can look documents up by id")

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """The top ``k`` fused hits of each query, best first."""
        if isinstance(queries, str):
            raise TypeError("search_batch takes a sequence of queries, got a single str")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        if not queries or k == 0:
            return [[] for _ in queries]
        depth = max(self.depth, k)
        rankings = [r.search_batch(queries, depth) for r in self.retrievers]
        fused: list[list[Hit]] = []
        for row in range(len(queries)):
            scores: dict[str, float] = {}
            first_seen: dict[str, tuple[int, int]] = {}
            docs: dict[str, Document] = {}
            for which, ranking in enumerate(rankings):
                hits = _unique(ranking[row][:depth])
                for rank, (hit, part) in enumerate(zip(hits, self._part_scores(which, hits), strict=True), 1):
                    doc_id = hit.document.id
                    scores[doc_id] = scores.get(doc_id, 0.0) + part
                    first_seen.setdefault(doc_id, (which, rank))
                    docs.setdefault(doc_id, hit.document)
            best = sorted(scores, key=lambda d: (-scores[d], first_seen[d]))[:k]
            fused.append([Hit(docs[d], scores[d]) for d in best])
        return fused

    def _part_scores(self, which: int, hits: list[Hit]) -> list[float]:
        """What each of one retriever's hits adds to its document's fused score."""
        if self.fusion == "rrf":
            return [1.0 / (self.k_rrf + rank) for rank in range(1, len(hits) + 1)]
        return [self.weights[which] * s for s in min_max([h.score for h in hits])]


def min_max(scores: Sequence[float]) -> list[float]:
    """``scores`` mapped linearly onto [0, 1] (highest 1, lowest 0); all 1 when they are equal."""
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi <= lo:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def _unique(hits: Sequence[Hit]) -> list[Hit]:
    seen: set[str] = set()
    out = []
    for hit in hits:
        if hit.document.id not in seen:
            seen.add(hit.document.id)
            out.append(hit)
    return out
