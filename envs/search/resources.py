"""Read-only resources of the search envs (corpora, questions, indexes), built once per process
and shared by every env and fork that asks for the same thing."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from turngym.tools.retrieval.base import Retriever
from turngym.tools.retrieval.corpus import Document, load_corpus

RETRIEVER_KINDS = ("bm25", "dense", "hybrid")
RAY_SERVE_PREFIX = "ray-serve:"
"""``retriever="ray-serve:NAME"``: the retrieval service deployed on Ray Serve as application NAME."""


@functools.lru_cache(maxsize=8)
def generated_world(seed: int, num_entities: int) -> Any:
    from turngym.envs.search.world import generate_world

    return generate_world(seed, num_entities=num_entities)


@functools.lru_cache(maxsize=4)
def wiki_documents() -> tuple[Document, ...]:
    from turngym.envs.search.wiki import wiki_corpus

    return tuple(wiki_corpus())


@functools.lru_cache(maxsize=16)
def _corpus_file(path: str, mtime: float) -> tuple[Document, ...]:
    return tuple(load_corpus(path))


@functools.lru_cache(maxsize=16)
def _qa_file(path: str, mtime: float) -> tuple[Any, ...]:
    from turngym.envs.search.qa import load_qa

    return tuple(load_qa(path))


def corpus_and_questions(
    corpus: Any, qa: Any, *, world_seed: int, num_entities: int, split: str | None
) -> tuple[tuple[Document, ...], list[Any]]:
    """Documents and questions from paths, lists, registered corpus names, or (both None) the
    generated world. ``corpus="world"`` / ``"wikipedia"`` name the shipped corpora."""
    if corpus is None and qa is None:
        world = generated_world(world_seed, num_entities)
        return tuple(world.documents), world.questions(split=split)
    if corpus is None or qa is None:
        raise ValueError(f"give both corpus and qa, or neither (the generated world); got corpus={corpus!r:.60}, qa={qa!r:.60}")
    if isinstance(corpus, str) and corpus in CORPORA:
        docs = CORPORA[corpus](world_seed=world_seed, num_entities=num_entities)
    else:
        docs = _corpus_file(*_keyed(corpus)) if isinstance(corpus, (str, os.PathLike)) else tuple(corpus)
    questions = list(_qa_file(*_keyed(qa))) if isinstance(qa, (str, os.PathLike)) else list(qa)
    return docs, questions


def named_corpus(name: str, *, world_seed: int = 0, num_entities: int = 200) -> tuple[Document, ...]:
    """A registered corpus by name: ``world`` (generated from ``world_seed``) or ``wikipedia``."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; registered: {sorted(CORPORA)}")
    return CORPORA[name](world_seed=world_seed, num_entities=num_entities)


CORPORA: dict[str, Any] = {
    "world": lambda world_seed, num_entities: tuple(generated_world(world_seed, num_entities).documents),
    "wikipedia": lambda world_seed, num_entities: wiki_documents(),
}


def _keyed(path: str | os.PathLike[str]) -> tuple[str, float]:
    resolved = Path(path).resolve()
    if not resolved.exists():
        raise FileNotFoundError(f"no such file: {path}")
    return str(resolved), resolved.stat().st_mtime


def make_retriever(spec: Any, docs: Sequence[Document]) -> Retriever:
    """A retriever from ``"bm25" | "dense" | "hybrid"`` (built over ``docs`` once per process), an
    index directory, a retrieval server URL, ``"ray-serve:NAME"`` (the Ray Serve service's URL), or a
    ready ``Retriever``."""
    if isinstance(spec, str) and spec in RETRIEVER_KINDS:
        return _built(spec, tuple(docs))
    if isinstance(spec, str) and spec.startswith(("http://", "https://")):
        return _http_retriever(spec)
    if isinstance(spec, str) and spec.startswith(RAY_SERVE_PREFIX):
        from turngym.tools.retrieval.ray_serve import service_url

        return _http_retriever(service_url(spec.removeprefix(RAY_SERVE_PREFIX)))
    if isinstance(spec, (str, os.PathLike)):
        return _loaded_index(str(Path(spec).resolve()))
    if hasattr(spec, "search_batch"):
        return spec
    raise ValueError(
        f"retriever must be one of {RETRIEVER_KINDS}, an index directory, an http(s) URL, {RAY_SERVE_PREFIX}NAME "
        f"or a Retriever; got {spec!r:.80}"
    )


@functools.lru_cache(maxsize=16)
def _http_retriever(url: str) -> Retriever:
    """One client per URL, so a vector of envs batches its queries into one request per step."""
    from turngym.tools.retrieval.client import HTTPRetriever

    return HTTPRetriever(url)


@functools.lru_cache(maxsize=8)
def _loaded_index(path: str) -> Retriever:
    from turngym.tools.retrieval.index import load_index

    return load_index(path)


@functools.lru_cache(maxsize=8)
def _built(kind: str, docs: tuple[Document, ...]) -> Retriever:
    if kind == "bm25":
        from turngym.tools.retrieval.bm25 import BM25Retriever

        retriever: Retriever = BM25Retriever.build(list(docs))
    else:
        from turngym.tools.retrieval.dense import DenseRetriever
        from turngym.tools.retrieval.embedder import load_embedder

        dense = DenseRetriever.build(list(docs), load_embedder())
        if kind == "dense":
            retriever = dense
        else:
            from turngym.tools.retrieval.bm25 import BM25Retriever
            from turngym.tools.retrieval.hybrid import BM25_DENSE_WEIGHTS, HybridRetriever

            retriever = HybridRetriever([BM25Retriever.build(list(docs)), dense], weights=BM25_DENSE_WEIGHTS)
    return retriever


def document_by_id(retriever: Retriever, doc_id: str) -> Document | None:
    """The document ``doc_id`` of an in-process retriever (None when it cannot tell)."""
    get = getattr(retriever, "get", None)
    if get is None:
        return None
    try:
        return get(doc_id)
    except KeyError:
        return None


@functools.lru_cache(maxsize=4)
def wiki_question_set(seed: int, n: int) -> tuple[Any, ...]:
    from turngym.envs.search.wiki import wiki_questions

    return tuple(wiki_questions(list(wiki_documents()), seed, n))
