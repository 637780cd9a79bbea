"""Approximate faiss indexes (IVF-PQ, HNSW) against flat ones, and batched query latency, on synthetic corpora."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from test_retrieval import (
    CORPUS,
    PARAPHRASE_QUERIES,
    CountingEmbedder,
    HashEmbedder,
    assert_same_results,
    hits_at_1,
    load_minilm,
    own_text_queries,
    synthetic_corpus,
    top_ids,
)

from turngym.tools.retrieval import Document, search
from turngym.tools.retrieval.bm25 import BM25Retriever
from turngym.tools.retrieval.dense import MIN_IVFPQ_DOCS, DenseRetriever, ivfpq_params


@pytest.fixture(scope="session")
def minilm():
    return load_minilm()


def test_ivfpq_params_fit_the_corpus():
    small = ivfpq_params(2_000, 384)
    assert small == {"nlist": 51, "m": 96, "nbits": 5, "nprobe": 32}  # 4 dims a 5-bit code below 256 centroids
    big = ivfpq_params(21_000_000, 768)
    assert big["nbits"] == 8 and big["m"] == 96 and 10_000 < big["nlist"] < 30_000
    for n in (MIN_IVFPQ_DOCS, 5_000, 100_000):
        p = ivfpq_params(n, 384)
        assert n >= 39 * p["nlist"] and n >= 39 * 2 ** p["nbits"]  # faiss wants >= 39 training points a centroid
        assert 384 % p["m"] == 0 and 1 <= p["nprobe"] <= p["nlist"]


@pytest.fixture
def faiss_one_thread():
    """faiss' OpenMP threads spin against each other on a busy 2-core machine (IVF-PQ training 4x
    slower); one thread keeps these tests fast. Restored afterwards."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def synthetic():
    docs = synthetic_corpus(2_000)
    embedder = HashEmbedder(dim=96)
    return docs, embedder, own_text_queries(docs, 100)


@pytest.mark.parametrize("index_type", ["hnsw", "ivfpq"])
def test_approximate_indexes_find_the_right_documents(synthetic, index_type, tmp_path, faiss_one_thread):
    docs, embedder, queries = synthetic
    flat = DenseRetriever.build(docs, embedder)
    approx = DenseRetriever.build(docs, embedder, index_type=index_type)
    assert approx.index.ntotal == len(docs)
    exact_top = [top_ids(h)[0] for h in flat.search_batch(list(queries), 1)]
    assert exact_top == list(queries.values())  # the hashing embedder makes the source document the exact top hit
    results = approx.search_batch(list(queries), 5)
    recall_at_5 = np.mean([want in top_ids(h) for h, want in zip(results, queries.values(), strict=True)])
    top1 = np.mean([h[0].doc_id == want for h, want in zip(results, queries.values(), strict=True)])
    assert recall_at_5 >= 0.9 and top1 >= 0.8, (recall_at_5, top1)
    approx.save(tmp_path / "idx")
    loaded = DenseRetriever.load(tmp_path / "idx", embedder)
    assert loaded.index_type == index_type
    assert_same_results(loaded.search_batch(list(queries), 5), results, atol=1e-5)


def test_hnsw_returns_k_hits_beyond_ef_search(synthetic):
    docs, embedder, queries = synthetic
    hnsw = DenseRetriever.build(docs[:500], embedder, index_type="hnsw")
    hits = search(hnsw, next(iter(queries)), 200)
    assert len(hits) == 200 and len(set(top_ids(hits))) == 200


def varied_corpus(n: int, seed: int = 0) -> list[Document]:
    """Short, mostly distinct place descriptions (near-duplicate records would defeat HNSW graphs)."""
    rng = random.Random(seed)
    words = {
        "adj": "ancient busy quiet famous tiny remote coastal frozen sunny historic modern rural volcanic misty royal",
        "noun": "village harbour museum bridge monastery market railway lighthouse castle vineyard observatory canal",
        "place": "Norway Peru Kenya Japan Chile Iceland Morocco Canada Vietnam Portugal Mongolia Greece Nepal Ghana Fiji",
        "feat": "wooden-churches salt-mines silk-weaving jazz-festivals glass-blowing rare-orchids copper-bells "
        "stone-circles night-markets hot-springs tea-houses clock-towers puppet-theatre kite-races",
    }
    pick = {kind: words_.split() for kind, words_ in words.items()}

    def one(kind: str) -> str:
        return rng.choice(pick[kind]).replace("-", " ")

    return [
        Document(
            f"s{i}",
            f"{one('adj').title()} {one('noun')} {i}",
            f"A {one('adj')} {one('noun')} in {one('place')}, known for its {one('feat')} and {one('feat')}.",
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def minilm_2000(minilm, tmp_path_factory):
    """2,000 documents (the hand-made corpus among generated ones), embedded once into a work dir, and their flat index."""
    docs = varied_corpus(2_000 - len(CORPUS)) + CORPUS
    work_dir = tmp_path_factory.mktemp("minilm-chunks")
    return docs, work_dir, DenseRetriever.build(docs, minilm, work_dir=work_dir)


@pytest.mark.slow
@pytest.mark.parametrize("index_type", ["hnsw", "ivfpq"])
def test_approximate_indexes_with_minilm(minilm, minilm_2000, index_type, faiss_one_thread):
    docs, work_dir, flat = minilm_2000
    counting = CountingEmbedder(minilm)
    approx = DenseRetriever.build(docs, counting, index_type=index_type, work_dir=work_dir)
    assert counting.calls == 0  # the embeddings came from the work dir
    assert hits_at_1(flat, PARAPHRASE_QUERIES) == len(PARAPHRASE_QUERIES)
    assert hits_at_1(approx, PARAPHRASE_QUERIES) >= len(PARAPHRASE_QUERIES) - 1
    queries = [d.text for d in random.Random(5).sample(docs, 100)]
    exact_top = [h[0].doc_id for h in flat.search_batch(queries, 1)]
    found = [want in top_ids(h) for want, h in zip(exact_top, approx.search_batch(queries, 5), strict=True)]
    assert np.mean(found) >= 0.9


# --- latency ----------------------------------------------------------------------------------


def test_batched_query_latency_is_reasonable(synthetic):
    docs, _, _ = synthetic
    bm25 = BM25Retriever.build(docs)
    queries = [" ".join(d.text.split()[:4]) for d in docs[:500]]
    started = time.perf_counter()
    results = bm25.search_batch(queries, 10)
    elapsed = time.perf_counter() - started
    assert all(r and r[0].score > 0 for r in results)
    assert elapsed / len(queries) < 0.02, f"{1000 * elapsed / len(queries):.2f} ms a query"
