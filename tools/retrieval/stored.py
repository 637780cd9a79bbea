"""What saved index components share: the metadata check and the documents saved beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from turngym.tools.retrieval.corpus import CorpusFormatError, Document, load_corpus

DOCUMENTS_FILE = "documents.jsonl"


def read_meta(path: Path, meta_name: str, fmt: str, what: str) -> dict[str, Any]:
    """The metadata file ``meta_name`` of the component in ``path``, checked to be of format ``fmt``."""
    meta_path = path / meta_name
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path}: not a {what} (expected {meta_name} in it)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != fmt:
        raise CorpusFormatError(f"{meta_path}: expected format {fmt!r}, got {meta.get('format')!r}")
    return meta


def saved_documents(path: Path, documents: list[Document] | None) -> list[Document]:
    """``documents`` when given, else the ``documents.jsonl`` saved in ``path``."""
    if documents is not None:
        return documents
    docs_path = path / DOCUMENTS_FILE
    if not docs_path.is_file():
        raise FileNotFoundError(f"{path}: no {DOCUMENTS_FILE}; pass documents= when they were saved elsewhere")
    return load_corpus(docs_path)


class StoredDocuments:
    """Lookup by id over ``self.documents`` (a retriever that keeps its documents beside its index)."""

    documents: list[Document]
    _by_id: dict[str, Document] | None = None

    def __len__(self) -> int:
        return len(self.documents)

    def get(self, doc_id: str) -> Document:
        """The document with id ``doc_id``; ``KeyError`` if there is none."""
        if self._by_id is None:
            self._by_id = {d.id: d for d in self.documents}
        try:
            return self._by_id[doc_id]
        except KeyError:
            raise KeyError(f"no document with id {doc_id!r} in this index") from None
