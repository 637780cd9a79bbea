"""Retrieval backends on real bm25s, faiss and all-MiniLM-L6-v2: ranking, batching, save/load, resume."""

from __future__ import annotations

import functools
import random
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from turngym.tools.retrieval import Document, Hit, Retriever, search
from turngym.tools.retrieval.bm25 import BM25Retriever
from turngym.tools.retrieval.dense import MIN_IVFPQ_DOCS, DenseRetriever
from turngym.tools.retrieval.embedder import DEFAULT_EMBEDDER, embedder_source, load_embedder
from turngym.tools.retrieval.hybrid import HybridRetriever, min_max

# id | title | text; the last four are near-duplicates of others that only an exact identifier tells apart.
CORPUS = [
    Document(*line.split(" | "))
    for line in """
eiffel | Eiffel Tower | A wrought-iron lattice tower on the Champ de Mars in Paris, completed in 1889 for the World's Fair.
photosynthesis | Photosynthesis | Green plants use sunlight, water and carbon dioxide to produce glucose and release oxygen.
python | Python (programming language) | A high-level programming language created by Guido van Rossum, first released in 1991.
everest | Mount Everest | On the border of Nepal and China, Earth's highest mountain above sea level at 8,849 metres.
penicillin | Penicillin | Alexander Fleming discovered penicillin in 1928 when mould killed bacteria in a petri dish.
titanic | RMS Titanic | The liner sank in the North Atlantic Ocean in April 1912 after striking an iceberg on her maiden voyage.
bitcoin | Bitcoin | A decentralised digital currency introduced in 2009 by the pseudonymous developer Satoshi Nakamoto.
amazon | Amazon rainforest | Covers much of the Amazon basin of South America; the largest tropical rainforest in the world.
beethoven | Ludwig van Beethoven | German composer and pianist who kept writing symphonies after he lost his hearing.
apollo | Apollo 11 | The 1969 spaceflight in which Neil Armstrong and Buzz Aldrin became the first people to walk on the Moon.
bees | Honey bee | Honey bees live in colonies ruled by a queen; workers collect nectar and pollen and make honey and beeswax.
zx81 | Sinclair ZX81 | A home computer produced by Sinclair Research and released in 1981 with 1 KB of memory.
gasket | Part KV-4471 | Catalogue entry KV-4471: replacement gasket for the model 9 espresso machine.
wall | Great Wall of China | A series of fortifications built across the northern borders of ancient Chinese states.
insulin | Insulin | A hormone made by the pancreas that lets cells absorb glucose; people with type 1 diabetes inject it.
marathon | Marathon | A long-distance foot race of 42.195 kilometres, named after a Greek messenger's run to Athens.
seal | Part KV-4417 | Catalogue entry KV-4417: replacement gasket for the model 7 espresso machine.
zx80 | Sinclair ZX80 | A home computer produced by Sinclair Research and released in 1980 with 1 KB of memory.
rfc2616 | RFC 2616 | The 1999 specification of HTTP/1.1, the protocol of the web.
rfc7230 | RFC 7230 | The 2014 specification of HTTP/1.1 message syntax and routing, which replaced an earlier one.
""".strip().splitlines()
]

KEYWORD_QUERIES = {
    "Champ de Mars tower": "eiffel",
    "Guido van Rossum": "python",
    "Satoshi Nakamoto": "bitcoin",
    "Alexander Fleming": "penicillin",
    "ZX81": "zx81",
    "KV-4471": "gasket",
    "iceberg maiden voyage": "titanic",
    "Neil Armstrong Buzz Aldrin": "apollo",
    "KV-4417": "seal",
    "ZX80": "zx80",
    "7230": "rfc7230",
}

PARAPHRASE_QUERIES = {
    "how do leaves turn light into food": "photosynthesis",
    "tallest peak on the planet": "everest",
    "ship that went down after hitting ice": "titanic",
    "deaf musician famous for orchestral works": "beethoven",
    "insects creating a sweet syrup in their hives": "bees",
    "cryptocurrency invented by an anonymous person": "bitcoin",
    "medicine that kills germs found by accident": "penicillin",
    "26 mile running event": "marathon",
}


@functools.cache
def load_minilm():
    """all-MiniLM-L6-v2, loaded once per test session (test_index.py shares it)."""
    return load_embedder()


@pytest.fixture(scope="session")
def minilm():
    return load_minilm()


@pytest.fixture(scope="module")
def bm25() -> BM25Retriever:
    return BM25Retriever.build(CORPUS)


@pytest.fixture(scope="module")
def dense(minilm) -> DenseRetriever:
    return DenseRetriever.build(CORPUS, minilm)


def top_ids(hits: list[Hit]) -> list[str]:
    return [h.doc_id for h in hits]


def hits_at_1(retriever: Retriever, queries: dict[str, str]) -> int:
    results = retriever.search_batch(list(queries), 5)
    return sum(bool(hits) and hits[0].doc_id == want for hits, want in zip(results, queries.values(), strict=True))


def assert_same_results(a: list[list[Hit]], b: list[list[Hit]], atol: float = 1e-6) -> None:
    assert [top_ids(h) for h in a] == [top_ids(h) for h in b]
    for ha, hb in zip(a, b, strict=True):
        np.testing.assert_allclose([h.score for h in ha], [h.score for h in hb], atol=atol)


class CountingEmbedder:
    """Wraps an embedder and counts its ``encode`` calls and the texts they embedded."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0
        self.texts = 0

    def encode(self, sentences, **kwargs):
        self.calls += 1
        self.texts += len(sentences)
        return self.inner.encode(sentences, **kwargs)

    def __getitem__(self, i):  # lets embedder_source see the wrapped model: same embedder, same work-dir chunks
        return self.inner[i]


class HashEmbedder:
    """A cheap deterministic bag-of-words embedder: the sum of a fixed random vector per word."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls = 0
        self._vectors: dict[str, np.ndarray] = {}

    def _word(self, word: str) -> np.ndarray:
        if word not in self._vectors:
            self._vectors[word] = np.random.default_rng(zlib.crc32(word.encode())).standard_normal(self.dim)
        return self._vectors[word]

    def encode(self, sentences, normalize_embeddings=False, **kwargs):
        self.calls += 1
        out = np.zeros((len(sentences), self.dim), dtype=np.float32)
        for i, s in enumerate(sentences):
            for word in re.findall(r"\w+", s.lower()):
                out[i] += self._word(word)
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def synthetic_corpus(n: int, seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ter", "van", "sul", "dor", "pe", "rin", "gat", "shu", "bel", "nox", "tri", "wem"]
    vocab = sorted({"".join(rng.choice(syllables) for _ in range(3)) for _ in range(3000)})
    return [Document(f"d{i}", f"Item {i}", " ".join(rng.sample(vocab, 12))) for i in range(n)]


def own_text_queries(docs: list[Document], n: int, seed: int = 1) -> dict[str, str]:
    """Queries of 6 words taken from a document's text, keyed to that document."""
    rng = random.Random(seed)
    picked = rng.sample(docs, n)
    return {" ".join(rng.sample(d.text.split(), 6)): d.id for d in picked}


# --- BM25 -------------------------------------------------------------------------------------


def test_bm25_ranks_keyword_queries(bm25):
    for query, want in KEYWORD_QUERIES.items():
        assert top_ids(search(bm25, query, 3))[0] == want, query


def test_bm25_indexes_titles(bm25):
    assert set(top_ids(search(bm25, "Sinclair", 5))) == {"zx81", "zx80"}  # in title and text
    assert top_ids(search(bm25, "Photosynthesis", 1)) == ["photosynthesis"]  # only in the title


def test_bm25_batch_equals_single_queries(bm25):
    queries = [*KEYWORD_QUERIES, "", "tower of Paris"]
    batch = bm25.search_batch(queries, 4)
    assert len(batch) == len(queries)
    assert_same_results(batch, [bm25.search_batch([q], 4)[0] for q in queries])


def test_bm25_scores_descend_and_k_is_respected(bm25):
    hits = search(bm25, "the first in 1981 and 1991 of the world", 3)
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(isinstance(h.document, Document) and h.score > 0 for h in hits)


def test_bm25_k_larger_than_corpus_returns_every_match(bm25):
    # "in" is a stopword; "released", "1981" and "memory" match three documents.
    hits = search(bm25, "released in 1981 memory", 1000)
    assert top_ids(hits)[0] == "zx81"
    assert set(top_ids(hits)) == {"zx81", "zx80", "python"}
    common = search(bm25, "a " + " ".join(d.title for d in CORPUS), 1000)
    assert sorted(top_ids(common)) == sorted(d.id for d in CORPUS)


def test_bm25_empty_and_unknown_queries_return_nothing(bm25):
    assert bm25.search_batch(["", "   ", "the of and", "xylophonequux"], 5) == [[], [], [], []]
    assert bm25.search_batch([], 5) == []
    assert search(bm25, "Satoshi", 0) == []


def test_bm25_rejects_bad_arguments(bm25):
    with pytest.raises(TypeError, match="single str"):
        bm25.search_batch("Satoshi", 3)
    with pytest.raises(ValueError, match="k must be >= 0"):
        bm25.search_batch(["Satoshi"], -1)
    with pytest.raises(ValueError, match="empty corpus"):
        BM25Retriever.build([])


def test_bm25_documents_and_get(bm25):
    assert bm25.documents == CORPUS
    assert len(bm25) == len(CORPUS)
    assert bm25.get("zx81").title == "Sinclair ZX81"
    with pytest.raises(KeyError, match="nope"):
        bm25.get("nope")
    assert isinstance(bm25, Retriever)


@pytest.mark.parametrize("mmap", [True, False])
def test_bm25_save_load_round_trip(bm25, tmp_path, mmap):
    bm25.save(tmp_path / "idx")
    loaded = BM25Retriever.load(tmp_path / "idx", mmap=mmap)
    if mmap:
        assert isinstance(loaded.model.scores["data"], np.memmap)
    assert loaded.documents == CORPUS
    queries = [*KEYWORD_QUERIES, *PARAPHRASE_QUERIES, ""]
    assert_same_results(loaded.search_batch(queries, 5), bm25.search_batch(queries, 5), atol=0)


def test_bm25_stopwords_setting_survives_save(tmp_path):
    plain = BM25Retriever.build(CORPUS, stopwords=None)
    assert search(plain, "the", 3)  # "the" is a term when nothing is a stopword
    plain.save(tmp_path / "idx")
    loaded = BM25Retriever.load(tmp_path / "idx")
    assert loaded.stopwords is None
    assert_same_results(loaded.search_batch(["the"], 3), plain.search_batch(["the"], 3), atol=0)


def test_bm25_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a BM25 index"):
        BM25Retriever.load(tmp_path)
    BM25Retriever.build(CORPUS).save(tmp_path / "nodocs", include_documents=False)
    with pytest.raises(FileNotFoundError, match="pass documents="):
        BM25Retriever.load(tmp_path / "nodocs")
    assert BM25Retriever.load(tmp_path / "nodocs", documents=CORPUS).documents == CORPUS
    with pytest.raises(ValueError, match=f"holds {len(CORPUS)} documents, but 2"):
        BM25Retriever.load(tmp_path / "nodocs", documents=CORPUS[:2])


# --- embedder ---------------------------------------------------------------------------------


def test_load_embedder_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such path"):
        load_embedder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="modules.json or config.json"):
        load_embedder(tmp_path)


@pytest.mark.slow
def test_load_embedder_never_reaches_the_network(monkeypatch, tmp_path):
    import socket

    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    model = load_embedder()
    assert attempts == []
    assert model.encode(["hello"], normalize_embeddings=True).shape == (1, 384)


def test_default_embedder_is_recorded_by_name(minilm):
    assert embedder_source(minilm) == DEFAULT_EMBEDDER
    assert embedder_source(HashEmbedder()) is None


# --- dense ------------------------------------------------------------------------------------


def test_dense_ranks_paraphrases(dense):
    for query, want in PARAPHRASE_QUERIES.items():
        assert top_ids(search(dense, query, 3))[0] == want, query


def test_dense_batch_equals_single_queries(dense):
    queries = [*list(PARAPHRASE_QUERIES)[:3], "  ", *list(KEYWORD_QUERIES)[:2]]
    batch = dense.search_batch(queries, 4)
    assert batch[3] == []  # a blank query
    assert_same_results(batch, [dense.search_batch([q], 4)[0] for q in queries], atol=1e-5)


def test_dense_embeds_all_queries_in_one_call(minilm):
    counting = CountingEmbedder(minilm)
    retriever = DenseRetriever.build(CORPUS, counting, chunk_size=len(CORPUS))
    assert counting.calls == 1
    retriever.search_batch(list(PARAPHRASE_QUERIES), 3)
    assert counting.calls == 2


def test_dense_scores_are_cosines_best_first(dense):
    hits = search(dense, "tallest peak on the planet", 100)
    assert len(hits) == len(CORPUS)  # k beyond the corpus
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert -1.0 <= scores[-1] <= scores[0] <= 1.0 + 1e-5


def test_dense_save_load_round_trip(dense, minilm, tmp_path):
    dense.save(tmp_path / "idx")
    loaded = DenseRetriever.load(tmp_path / "idx", minilm)
    assert loaded.documents == CORPUS and loaded.index_type == "flat" and loaded.embedder_name == DEFAULT_EMBEDDER
    queries = [*PARAPHRASE_QUERIES, *KEYWORD_QUERIES]
    assert_same_results(loaded.search_batch(queries, 5), dense.search_batch(queries, 5), atol=0)


def test_dense_load_checks_the_embedder(dense, tmp_path):
    dense.save(tmp_path / "idx")
    with pytest.raises(FileNotFoundError, match="not a dense index"):
        DenseRetriever.load(tmp_path, HashEmbedder())
    unknown = DenseRetriever.build(CORPUS, HashEmbedder(dim=32))
    unknown.save(tmp_path / "hash")
    with pytest.raises(ValueError, match="does not record which embedder"):
        DenseRetriever.load(tmp_path / "hash")
    assert DenseRetriever.load(tmp_path / "hash", HashEmbedder(dim=32)).dim == 32
    bad_dim = DenseRetriever.load(tmp_path / "hash", HashEmbedder(dim=16))
    with pytest.raises(ValueError, match="16-dim vectors, the index holds 32-dim"):
        search(bad_dim, "castle", 3)


def test_dense_resumes_an_interrupted_build(minilm, tmp_path):
    docs = CORPUS + [
        Document(f"x{i}", f"Extra {i}", f"Filler passage number {i} about topic {i % 5}.") for i in range(40 - len(CORPUS))
    ]
    chunk_size, n_chunks = 8, 5  # 40 documents
    counting = CountingEmbedder(minilm)
    seen = []

    def stop_after_three(done: int, total: int) -> None:
        seen.append((done, total))
        if len(seen) == 3:
            raise KeyboardInterrupt

    work = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        DenseRetriever.build(docs, counting, chunk_size=chunk_size, work_dir=work, progress=stop_after_three)
    assert seen == [(8, 40), (16, 40), (24, 40)]
    assert counting.calls == 3 and len(list(work.glob("chunk-*.npy"))) == 3

    counting.calls = counting.texts = 0
    progress = []
    resumed = DenseRetriever.build(docs, counting, chunk_size=chunk_size, work_dir=work, progress=lambda d, t: progress.append(d))
    assert counting.calls == n_chunks - 3 and counting.texts == 16  # only the last two chunks were embedded
    assert progress == [8, 16, 24, 32, 40]

    clean = DenseRetriever.build(docs, minilm, chunk_size=chunk_size)
    np.testing.assert_allclose(resumed.index.reconstruct_n(0, len(docs)), clean.index.reconstruct_n(0, len(docs)), atol=1e-6)
    queries = list(PARAPHRASE_QUERIES)[:2]
    assert_same_results(resumed.search_batch(queries, 5), clean.search_batch(queries, 5), atol=1e-5)

    counting.calls = 0
    DenseRetriever.build(docs, counting, chunk_size=chunk_size, work_dir=work)
    assert counting.calls == 0  # everything was on disk


def test_dense_resume_reembeds_only_changed_chunks(tmp_path):
    docs = synthetic_corpus(40)
    embedder = HashEmbedder()
    DenseRetriever.build(docs, embedder, chunk_size=10, work_dir=tmp_path)
    assert embedder.calls == 4
    changed = docs[:]
    changed[25] = Document("d25", "Item 25", "a rewritten passage")
    embedder.calls = 0
    rebuilt = DenseRetriever.build(changed, embedder, chunk_size=10, work_dir=tmp_path)
    assert embedder.calls == 1
    assert top_ids(search(rebuilt, "a rewritten passage", 1)) == ["d25"]
    assert len(list(tmp_path.glob("chunk-*.npy"))) == 4

    embedder.calls = 0  # a damaged chunk file is embedded again
    damaged = sorted(tmp_path.glob("chunk-000001-*.npy"))[0]
    damaged.write_bytes(b"not an array")
    DenseRetriever.build(changed, embedder, chunk_size=10, work_dir=tmp_path)
    assert embedder.calls == 1

    embedder.calls = 0  # another chunk size invalidates every chunk
    DenseRetriever.build(changed, embedder, chunk_size=20, work_dir=tmp_path)
    assert embedder.calls == 2 and len(list(tmp_path.glob("chunk-*.npy"))) == 2


def test_dense_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="index_type must be one of flat, hnsw, ivfpq, got 'ivf'"):
        DenseRetriever.build(CORPUS, HashEmbedder(), index_type="ivf")
    with pytest.raises(ValueError, match=f"at least {MIN_IVFPQ_DOCS} documents.*got {len(CORPUS)}"):
        DenseRetriever.build(CORPUS, HashEmbedder(), index_type="ivfpq")
    with pytest.raises(ValueError, match="empty corpus"):
        DenseRetriever.build([], HashEmbedder())


# --- hybrid -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_hybrid_is_at_least_as_good_as_either(bm25, dense, fusion):
    hybrid = HybridRetriever([bm25, dense], fusion=fusion)
    mixed = {**KEYWORD_QUERIES, **PARAPHRASE_QUERIES}
    scores = {name: hits_at_1(r, mixed) for name, r in (("bm25", bm25), ("dense", dense), ("hybrid", hybrid))}
    assert scores["hybrid"] >= max(scores["bm25"], scores["dense"]), scores
    assert scores["bm25"] < len(mixed) and scores["dense"] < len(mixed), scores  # each misses some on its own


def test_hybrid_rrf_scores_and_batching(bm25, dense):
    hybrid = HybridRetriever([bm25, dense], fusion="rrf", k_rrf=60, depth=10)
    queries = [*list(KEYWORD_QUERIES)[:2], *list(PARAPHRASE_QUERIES)[:2], ""]
    batch = hybrid.search_batch(queries, 4)
    assert_same_results(batch, [hybrid.search_batch([q], 4)[0] for q in queries], atol=1e-6)
    assert batch[-1] == []  # both retrievers return nothing for an empty query
    # A document ranked first by both retrievers scores 2 / (60 + 1).
    hits = search(hybrid, "Satoshi Nakamoto cryptocurrency", 3)
    assert hits[0].doc_id == "bitcoin" and hits[0].score == pytest.approx(2 / 61)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hybrid.documents is bm25.documents and hybrid.get("zx81").title == "Sinclair ZX81"


def test_hybrid_weighted_scores_and_batching(bm25, dense):
    hybrid = HybridRetriever([bm25, dense], weights=[0.55, 0.45], depth=10)
    queries = [*list(KEYWORD_QUERIES)[:2], *list(PARAPHRASE_QUERIES)[:2], ""]
    batch = hybrid.search_batch(queries, 4)
    assert_same_results(batch, [hybrid.search_batch([q], 4)[0] for q in queries], atol=1e-6)
    assert batch[-1] == []
    # First for both retrievers: the top normalised score (1) of each, weighted.
    hits = search(hybrid, "Satoshi Nakamoto cryptocurrency", 3)
    assert hits[0].doc_id == "bitcoin" and hits[0].score == pytest.approx(1.0)
    assert all(0 <= h.score <= 1 for row in batch for h in row)


class FixedRetriever:
    def __init__(self, ranking: list[str], scores: list[float] | None = None) -> None:
        self.ranking = ranking
        self.scores = scores or [1.0] * len(ranking)
        self.calls: list[tuple[int, int]] = []

    def search_batch(self, queries, k):
        self.calls.append((len(queries), k))
        return [[Hit(Document(d, d, d), s) for d, s in zip(self.ranking[:k], self.scores, strict=False)] for _ in queries]


def test_hybrid_fusion_arithmetic():
    a = FixedRetriever(["x", "y", "z", "y"])  # a duplicate counts once
    b = FixedRetriever(["z", "w"])
    hybrid = HybridRetriever([a, b], fusion="rrf", k_rrf=0, depth=50)
    hits = hybrid.search_batch(["q1", "q2"], 10)
    assert a.calls == [(2, 50)] and b.calls == [(2, 50)]  # one batched call each, depth deep
    assert hits[0] == hits[1]
    scores = {h.doc_id: h.score for h in hits[0]}
    assert scores == pytest.approx({"z": 1 / 3 + 1, "x": 1.0, "y": 0.5, "w": 0.5})
    assert top_ids(hits[0]) == ["z", "x", "y", "w"]  # y before w: ties go to the earlier retriever
    assert top_ids(hybrid.search_batch(["q"], 2)[0]) == ["z", "x"]


def test_min_max_normalisation():
    assert min_max([12.0, 7.0, 2.0]) == pytest.approx([1.0, 0.5, 0.0])
    assert min_max([0.9, -0.1]) == pytest.approx([1.0, 0.0])  # negative cosines too
    assert min_max([3.0, 3.0]) == [1.0, 1.0] and min_max([5.0]) == [1.0] and min_max([]) == []


def test_hybrid_weighted_fusion_arithmetic():
    # BM25-like scores (unbounded) and cosines: only their spread within each list counts.
    a = FixedRetriever(["x", "y", "z", "y"], [30.0, 20.0, 10.0, 5.0])  # normalised 1, 0.5, 0; the duplicate counts once
    b = FixedRetriever(["z", "w", "x"], [0.9, 0.7, 0.5])  # normalised 1, 0.5, 0
    hybrid = HybridRetriever([a, b], weights=[0.6, 0.4], depth=50)
    hits = hybrid.search_batch(["q1", "q2"], 10)
    assert a.calls == [(2, 50)] and b.calls == [(2, 50)]
    assert hits[0] == hits[1]
    scores = {h.doc_id: h.score for h in hits[0]}
    assert scores == pytest.approx({"x": 0.6, "y": 0.3, "z": 0.4, "w": 0.2})  # a document one list lacks gets 0 there
    assert top_ids(hits[0]) == ["x", "z", "y", "w"]
    # A weight of 0 gives back the other retriever's ranking; equal weights are the default.
    assert top_ids(HybridRetriever([a, b], weights=[0, 1]).search_batch(["q"], 3)[0]) == ["z", "w", "x"]
    assert HybridRetriever([a, b]).weights == [0.5, 0.5]


def test_hybrid_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least one retriever"):
        HybridRetriever([])
    with pytest.raises(TypeError, match="search_batch"):
        HybridRetriever([object()])
    with pytest.raises(ValueError, match="depth"):
        HybridRetriever([FixedRetriever([])], depth=0)
    with pytest.raises(ValueError, match="fusion must be one of weighted, rrf, got 'max'"):
        HybridRetriever([FixedRetriever([])], fusion="max")
    with pytest.raises(ValueError, match=r"expected 2 non-negative weights .* got \[1.0\]"):
        HybridRetriever([FixedRetriever([]), FixedRetriever([])], weights=[1.0])
    with pytest.raises(ValueError, match="non-negative weights"):
        HybridRetriever([FixedRetriever([]), FixedRetriever([])], weights=[0, 0])
    with pytest.raises(ValueError, match="k_rrf applies to fusion='rrf'"):
        HybridRetriever([FixedRetriever([])], k_rrf=60)
    with pytest.raises(ValueError, match="weights apply to fusion='weighted'"):
        HybridRetriever([FixedRetriever([])], fusion="rrf", weights=[1.0])


def test_module_is_importable_without_loading_torch():
    import subprocess
    import sys

    code = (
        "import sys, turngym.tools.retrieval.dense, turngym.tools.retrieval.hybrid, turngym.tools.retrieval.index;"
        "print('torch' in sys.modules, 'faiss' in sys.modules, 'bm25s' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
    assert out.stdout.split() == ["False", "False", "False"]
