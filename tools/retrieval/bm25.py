"""BM25 over title + text with bm25s: sparse score matrices, saved as ``.npy`` files that load by mmap."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from turngym.tools.retrieval.base import Hit
from turngym.tools.retrieval.corpus import Document, write_corpus
from turngym.tools.retrieval.stored import DOCUMENTS_FILE, StoredDocuments, read_meta, saved_documents

BM25_META = "bm25.json"
BM25_FORMAT = "turngym.bm25/1"


def document_text(doc: Document) -> str:
    """What BM25 indexes for a document: its title, then its text."""
    return f"{doc.title}\n{doc.text}" if doc.title else doc.text


class BM25Retriever(StoredDocuments):
    """Lexical retrieval with BM25 (Lucene's variant, k1=1.5, b=0.75).

    Documents that share no term with the query are not hits, so a query of stopwords only, or of
    words the corpus never uses, returns ``[]``; ``k`` larger than the corpus returns every
    matching document.
    """

    def __init__(self, model: object, documents: list[Document], stopwords: str | list[str] | None = "en") -> None:
        import bm25s

        if not isinstance(model, bm25s.BM25):
            raise TypeError(f"expected a bm25s.BM25, got {type(model).__name__}; use BM25Retriever.build or .load")
        num_docs = int(model.scores["num_docs"])
        if num_docs != len(documents):
            raise ValueError(f"the BM25 index holds {num_docs} documents, but {len(documents)} documents were given")
        self.model = model
        self.documents = documents
        self.stopwords = stopwords

    @classmethod
    def build(cls, docs: Sequence[Document], *, stopwords: str | list[str] | None = "en") -> BM25Retriever:
        """Index ``docs`` (title + text, lowercased, ``stopwords`` removed: a bm25s language code or a list)."""
        import bm25s

        docs = list(docs)
        if not docs:
            raise ValueError("cannot build a BM25 index of an empty corpus")
        tokens = bm25s.tokenize(
            [document_text(d) for d in docs], stopwords=_bm25s_stopwords(stopwords), return_ids=True, show_progress=False
        )
        model = bm25s.BM25()
        model.index(tokens, show_progress=False)
        return cls(model, docs, stopwords)

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """The top ``k`` hits of each query, best first, from one bm25s call for the whole batch."""
        import bm25s

        if isinstance(queries, str):
            raise TypeError("search_batch takes a sequence of queries, got a single str")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        results: list[list[Hit]] = [[] for _ in queries]
        if not queries or k == 0:
            return results
        tokenized = bm25s.tokenize(
            list(queries), stopwords=_bm25s_stopwords(self.stopwords), return_ids=False, show_progress=False
        )
        vocab = self.model.vocab_dict
        rows, ids = [], []
        for row, tokens in enumerate(tokenized):
            token_ids = [vocab[t] for t in tokens if t in vocab]
            if token_ids:
                rows.append(row)
                ids.append(token_ids)
        if not ids:
            return results
        found, scores = self.model.retrieve(ids, k=min(k, len(self.documents)), show_progress=False, n_threads=0)
        for row, doc_rows, doc_scores in zip(rows, found.tolist(), scores.tolist(), strict=True):
            ranked = sorted((-s, i) for i, s in zip(doc_rows, doc_scores, strict=True) if s > 0)  # ties: corpus order
            results[row] = [Hit(self.documents[i], -neg) for neg, i in ranked]
        return results

    def save(self, path: str | os.PathLike[str], *, include_documents: bool = True) -> None:
        """Write the index to directory ``path`` (and ``documents.jsonl`` unless ``include_documents=False``)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save(str(path), show_progress=False)
        if include_documents:
            write_corpus(self.documents, path / DOCUMENTS_FILE)
        meta = {"format": BM25_FORMAT, "num_docs": len(self.documents), "stopwords": self.stopwords}
        (path / BM25_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = True, *, documents: list[Document] | None = None) -> BM25Retriever:
        """Load an index saved by ``save``; ``mmap=True`` maps the score matrices instead of reading them.

        ``documents`` supplies the documents when they were saved elsewhere (``include_documents=False``).
        """
        import bm25s

        path = Path(path)
        meta = read_meta(path, BM25_META, BM25_FORMAT, "BM25 index")
        documents = saved_documents(path, documents)
        model = bm25s.BM25.load(str(path), mmap=mmap, load_corpus=False, show_progress=False)
        return cls(model, documents, meta.get("stopwords", "en"))


def _bm25s_stopwords(stopwords: str | list[str] | None) -> str | list[str]:
    return [] if stopwords is None else stopwords
