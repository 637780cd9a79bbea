"""Hybrid retrieval is at least as good as its best part on real questions over the Wikipedia summaries.

The corpus here is the 1,500 first dev articles (embedding all 10,033 takes minutes on a CPU);
``bench/retrieval_quality.py`` measures the whole corpus and the heldout split.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_retrieval import load_minilm

from turngym.envs.search.wiki import wiki_article_info, wiki_corpus
from turngym.envs.search.wiki_queries import article_split, retrieval_questions
from turngym.tools.retrieval.bm25 import BM25Retriever
from turngym.tools.retrieval.dense import DenseRetriever
from turngym.tools.retrieval.hybrid import BM25_DENSE_WEIGHTS, HybridRetriever


def recall_at_3(retriever, questions) -> float:
    hits = retriever.search_batch([q.question for q in questions], 3)
    return float(np.mean([q.gold_doc_ids[0][0] in [h.doc_id for h in row] for q, row in zip(questions, hits, strict=True)]))


@pytest.mark.slow
def test_weighted_fusion_is_never_below_its_best_part_on_dev_questions():
    minilm = load_minilm()
    docs = [d for d in wiki_corpus() if article_split(d.id) == "dev"][:1500]
    questions = retrieval_questions(docs, wiki_article_info(), split="dev")
    assert len(questions) > 1000
    bm25, dense = BM25Retriever.build(docs), DenseRetriever.build(docs, minilm)
    scores = {
        "bm25": recall_at_3(bm25, questions),
        "dense": recall_at_3(dense, questions),
        "weighted": recall_at_3(HybridRetriever([bm25, dense], weights=BM25_DENSE_WEIGHTS), questions),
        "rrf": recall_at_3(HybridRetriever([bm25, dense], fusion="rrf"), questions),
    }
    assert scores["weighted"] >= max(scores["bm25"], scores["dense"]) - 0.005, scores
    assert scores["weighted"] >= scores["dense"] + 0.02, scores  # the goal
    assert scores["weighted"] > scores["rrf"], scores
