"""Dense retrieval: unit-length sentence embeddings in a faiss inner-product index (cosine similarity).

Index types:
- ``flat``  (``IndexFlatIP``): exact; 384 floats a document; the default.
- ``hnsw``  (``IndexHNSWFlat``, inner product, M=32, efConstruction=200, efSearch=256): approximate,
  fast queries, more memory than flat.
- ``ivfpq`` (``IndexIVFPQ``, inner product): approximate and compressed (d/8 bytes a document once the corpus has 10k+),
  trained on the corpus' own embeddings; needs at least ``MIN_IVFPQ_DOCS`` documents.

A build embeds the corpus in chunks of ``chunk_size`` documents. With ``work_dir``, each chunk is
saved there as it is done, named by its position and a hash of its documents, so a build that was
killed resumes where it stopped and re-embeds only the chunks whose documents changed.

Search-time settings live on the faiss index: ``retriever.index.hnsw.efSearch`` (raised to ``k``
when smaller) and ``retriever.index.nprobe``; both are saved with the index.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from turngym.tools.retrieval.base import Hit
from turngym.tools.retrieval.bm25 import document_text
from turngym.tools.retrieval.corpus import Document, write_corpus
from turngym.tools.retrieval.embedder import Embedder, embed, embedder_source, load_recorded_embedder
from turngym.tools.retrieval.stored import DOCUMENTS_FILE, StoredDocuments, read_meta, saved_documents

INDEX_TYPES = ("flat", "hnsw", "ivfpq")
MIN_IVFPQ_DOCS = 1000
DENSE_META = "dense.json"
DENSE_FORMAT = "turngym.dense/1"
FAISS_FILE = "faiss.index"
WORK_META = "work.json"
WORK_FORMAT = "turngym.dense-work/1"
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 256

Progress = Callable[[int, int], None]
"""Called after each chunk as ``progress(documents_done, documents_total)``."""


class DenseRetriever(StoredDocuments):
    """Semantic retrieval: the documents whose embeddings are closest (cosine) to the query's."""

    def __init__(
        self,
        index: Any,
        documents: list[Document],
        embedder: Embedder,
        *,
        index_type: str = "flat",
        embedder_name: str | None = None,
        batch_size: int = 256,
    ) -> None:
        if index.ntotal != len(documents):
            raise ValueError(f"the faiss index holds {index.ntotal} vectors, but {len(documents)} documents were given")
        self.index = index
        self.documents = documents
        self.embedder = embedder
        self.index_type = index_type
        self.embedder_name = embedder_name
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @classmethod
    def build(
        cls,
        docs: Sequence[Document],
        embedder: Embedder,
        *,
        index_type: str = "flat",
        batch_size: int = 256,
        chunk_size: int = 4096,
        work_dir: str | os.PathLike[str] | None = None,
        progress: Progress | None = None,
    ) -> DenseRetriever:
        """Embed ``docs`` (title + text) and index them.

        ``batch_size`` is the embedder's batch; ``chunk_size`` documents are embedded per call and
        saved per file in ``work_dir`` when given (the build then resumes from the chunks already
        there). ``progress(done, total)`` is called after each chunk. Raises ``ValueError`` for an
        unknown ``index_type`` and for an ``ivfpq`` corpus smaller than ``MIN_IVFPQ_DOCS``.
        """
        docs = list(docs)
        if index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}")
        if not docs:
            raise ValueError("cannot build a dense index of an empty corpus")
        if index_type == "ivfpq" and len(docs) < MIN_IVFPQ_DOCS:
            raise ValueError(
                f"an ivfpq index needs at least {MIN_IVFPQ_DOCS} documents to train its quantizers, "
                f"got {len(docs)}; use index_type='flat' (exact) or 'hnsw'"
            )
        if batch_size < 1 or chunk_size < 1:
            raise ValueError(f"batch_size and chunk_size must be >= 1, got {batch_size} and {chunk_size}")
        source = embedder_source(embedder)
        chunks = _embed_chunks(
            docs, embedder, source=source or type(embedder).__qualname__, batch_size=batch_size, chunk_size=chunk_size,
            work_dir=None if work_dir is None else Path(work_dir), progress=progress,
        )  # fmt: skip
        index = _make_index(chunks, index_type)
        return cls(index, docs, embedder, index_type=index_type, embedder_name=source, batch_size=batch_size)

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """The top ``k`` hits of each query, best first; all queries are embedded in one call.

        A blank query returns ``[]``. Scores are cosine similarities.
        """
        import faiss

        if isinstance(queries, str):
            raise TypeError("search_batch takes a sequence of queries, got a single str")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        results: list[list[Hit]] = [[] for _ in queries]
        rows = [i for i, q in enumerate(queries) if q.strip()]
        if not rows or k == 0:
            return results
        vectors = embed(self.embedder, [queries[i] for i in rows], batch_size=self.batch_size)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"the embedder gives {vectors.shape[1]}-dim vectors, the index holds {self.dim}-dim ones")
        kk = min(k, len(self.documents))
        params = None
        if self.index_type == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.index.hnsw.efSearch, kk))
        scores, ids = self.index.search(vectors, kk, params=params)
        for row, doc_rows, doc_scores in zip(rows, ids.tolist(), scores.tolist(), strict=True):
            results[row] = [Hit(self.documents[i], float(s)) for i, s in zip(doc_rows, doc_scores, strict=True) if i >= 0]
        return results

    def save(self, path: str | os.PathLike[str], *, include_documents: bool = True) -> None:
        """Write the index to directory ``path`` (and ``documents.jsonl`` unless ``include_documents=False``)."""
        import faiss

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(path / FAISS_FILE))
        if include_documents:
            write_corpus(self.documents, path / DOCUMENTS_FILE)
        meta = {
            "format": DENSE_FORMAT,
            "num_docs": len(self.documents),
            "dim": self.dim,
            "index_type": self.index_type,
            "embedder": self.embedder_name,
            "batch_size": self.batch_size,
        }
        (path / DENSE_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        embedder: Embedder | None = None,
        *,
        documents: list[Document] | None = None,
        device: str = "cpu",
    ) -> DenseRetriever:
        """Load an index saved by ``save``; without ``embedder``, load the one recorded at build time."""
        import faiss

        path = Path(path)
        meta = read_meta(path, DENSE_META, DENSE_FORMAT, "dense index")
        documents = saved_documents(path, documents)
        index = faiss.read_index(str(path / FAISS_FILE))
        if embedder is None:
            embedder = load_recorded_embedder(meta.get("embedder"), device=device)
        dim = _embedder_dim(embedder)
        if dim is not None and dim != index.d:
            raise ValueError(f"{path}: the index holds {index.d}-dim vectors, but the embedder gives {dim}-dim ones")
        return cls(
            index, documents, embedder, index_type=meta.get("index_type", "flat"), embedder_name=meta.get("embedder"),
            batch_size=int(meta.get("batch_size", 256)),
        )  # fmt: skip


def ivfpq_params(num_docs: int, dim: int) -> dict[str, int]:
    """IVF-PQ settings for a corpus of ``num_docs`` ``dim``-dimensional embeddings.

    ``nlist`` ~ 4 sqrt(N) inverted lists, with >= 39 training points a list; ``nbits`` 8 (256
    centroids a sub-quantizer) once the corpus has 39 points for each, else fewer; ``m``
    sub-quantizers of 8 dimensions at 8 bits (``dim`` bytes a vector / 8), of 4 dimensions below;
    ``nprobe`` lists searched per query."""
    if num_docs < MIN_IVFPQ_DOCS:
        raise ValueError(f"an ivfpq index needs at least {MIN_IVFPQ_DOCS} documents, got {num_docs}")
    nlist = max(1, min(round(4 * math.sqrt(num_docs)), num_docs // 39))
    nbits = max(4, min(8, int(math.log2(num_docs / 39))))
    dims_per_code = 8 if nbits == 8 else 4
    m = max(d for d in range(1, max(1, dim // dims_per_code) + 1) if dim % d == 0)
    nprobe = min(nlist, max(32, nlist // 32))
    return {"nlist": nlist, "m": m, "nbits": nbits, "nprobe": nprobe}


def _embedder_dim(embedder: object) -> int | None:
    for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        fn = getattr(embedder, name, None)
        if callable(fn):
            dim = fn()
            return int(dim) if dim is not None else None
    return None


def _chunk_hash(docs: Sequence[Document]) -> str:
    h = hashlib.sha256()
    for d in docs:
        h.update(json.dumps([d.id, d.title, d.text], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def _embed_chunks(
    docs: list[Document],
    embedder: Embedder,
    *,
    source: str,
    batch_size: int,
    chunk_size: int,
    work_dir: Path | None,
    progress: Progress | None,
) -> list[np.ndarray]:
    """The embeddings of ``docs`` as one array per chunk (memory-mapped from ``work_dir`` when given)."""
    total = len(docs)
    if work_dir is not None:
        _prepare_work_dir(work_dir, {"format": WORK_FORMAT, "embedder": source, "chunk_size": chunk_size})
    chunks: list[np.ndarray] = []
    dim: int | None = None
    for number, start in enumerate(range(0, total, chunk_size)):
        part = docs[start : start + chunk_size]
        vectors = None
        if work_dir is not None:
            chunk_path = work_dir / f"chunk-{number:06d}-{_chunk_hash(part)}.npy"
            if chunk_path.is_file():
                try:
                    vectors = np.load(chunk_path, mmap_mode="r")
                except (OSError, ValueError):  # unreadable: embed it again
                    vectors = None
                if vectors is not None and (vectors.ndim != 2 or vectors.shape[0] != len(part)):
                    vectors = None
        if vectors is None:
            vectors = embed(embedder, [document_text(d) for d in part], batch_size=batch_size)
            if work_dir is not None:
                for stale in work_dir.glob(f"chunk-{number:06d}-*.npy"):
                    stale.unlink()
                tmp = chunk_path.with_suffix(".tmp")
                with tmp.open("wb") as f:
                    np.save(f, vectors)
                os.replace(tmp, chunk_path)
        if dim is None:
            dim = int(vectors.shape[1])
        elif vectors.shape[1] != dim:
            raise ValueError(f"chunk {number} has {vectors.shape[1]}-dim embeddings, the others {dim}-dim")
        chunks.append(vectors)
        if progress is not None:
            progress(min(start + chunk_size, total), total)
    if work_dir is not None:
        for extra in work_dir.glob("chunk-*.npy"):  # chunks past the end of a corpus that shrank
            if int(extra.name.split("-")[1]) >= len(chunks):
                extra.unlink()
    return chunks


def _prepare_work_dir(work_dir: Path, config: dict[str, Any]) -> None:
    """Keep the chunks of ``work_dir`` only when they were made with the same embedder and chunk size."""
    work_dir.mkdir(parents=True, exist_ok=True)
    meta_path = work_dir / WORK_META
    if meta_path.is_file():
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            old = None
        if old == config:
            return
    for stale in work_dir.glob("chunk-*.npy"):
        stale.unlink()
    meta_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _make_index(chunks: list[np.ndarray], index_type: str) -> Any:
    import faiss

    dim = int(chunks[0].shape[1])
    total = sum(int(c.shape[0]) for c in chunks)
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        p = ivfpq_params(total, dim)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, p["nlist"], p["m"], p["nbits"], faiss.METRIC_INNER_PRODUCT)
        index.train(_training_sample(chunks, total, max_points=min(40 * max(p["nlist"], 2 ** p["nbits"]), 1_000_000)))
        index.nprobe = p["nprobe"]
    for chunk in chunks:
        index.add(np.ascontiguousarray(chunk, dtype=np.float32))
    return index


def _training_sample(chunks: list[np.ndarray], total: int, max_points: int) -> np.ndarray:
    """All embeddings, or an evenly spaced sample of ``max_points`` of them for a large corpus."""
    if total <= max_points:
        return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)
    wanted = np.linspace(0, total - 1, max_points).astype(np.int64)
    offsets = np.cumsum([0] + [int(c.shape[0]) for c in chunks])
    rows = []
    for i, chunk in enumerate(chunks):
        local = wanted[(wanted >= offsets[i]) & (wanted < offsets[i + 1])] - offsets[i]
        if local.size:
            rows.append(np.asarray(chunk[local], dtype=np.float32))
    return np.ascontiguousarray(np.concatenate(rows))
