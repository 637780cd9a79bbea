"""The search envs: SearchQA on any corpus, MultiHopQA, WikiQA, batched retrieval, search hooks."""

from __future__ import annotations

import json

import pytest

import turngym
from turngym.agents import OraclePolicy
from turngym.engine import play_episodes
from turngym.envs.search.hooks import EvidenceOverlap, GoldEvidenceHit, InformationGain, QueryPenalty
from turngym.envs.search.qa import QAExample
from turngym.tools.retrieval import Document
from turngym.tools.retrieval.bm25 import BM25Retriever

DOCS = [
    Document("d1", "Zorbin Lake", "Zorbin Lake is a lake in the north of Quell. Its depth is 42 metres."),
    Document("d2", "Quell", "Quell is a country whose capital is Marrow."),
    Document("d3", "Marrow", "Marrow is the capital of Quell and has 90,000 inhabitants."),
    Document("d4", "Zorbin Hills", "The Zorbin Hills lie south of Marrow."),
]
QUESTIONS = [
    QAExample("q1", "How deep is Zorbin Lake?", ("42 metres", "42"), (("d1",),), hops=1),
    QAExample("q2", "What is the capital of the country where Zorbin Lake lies?", ("Marrow",), (("d1",), ("d2",)), hops=2),
]


@pytest.fixture
def small_env():
    return turngym.make("turngym/SearchQA-v0", corpus=DOCS, qa=QUESTIONS, topk=2)


def test_search_returns_search_r1_style_passages(small_env):
    small_env.reset(seed=0, options={"question_index": 0})
    obs, reward, terminated, truncated, info = small_env.step("<search>Zorbin Lake depth</search>")
    content = obs[0]["content"]
    assert obs[0]["role"] == "tool"
    assert content.startswith("<information>Doc 1(Title: Zorbin Lake) Zorbin Lake is a lake")
    assert content.count("Doc ") == 2 and content.endswith("</information>")
    assert info["reward_parts"] == {"gold_hit": 1.0, "query_penalty": 0.0}
    assert reward == pytest.approx(0.1)
    assert small_env.step_metrics["retrievals"] == 1 and small_env.step_metrics["retrieval_s"] > 0


@pytest.mark.parametrize(
    ("metric", "answer", "outcome"),
    [
        ("em", "42", 1.0),
        ("em", "the 42 metres.", 1.0),
        ("em", "42 m", 0.0),
        ("f1", "42 m", 2 / 3),
        ("cover_em", "it is 42 metres deep", 1.0),
    ],
)
def test_answer_metrics(metric, answer, outcome):
    env = turngym.make("turngym/SearchQA-v0", corpus=DOCS, qa=QUESTIONS, answer_metric=metric)
    env.reset(seed=0, options={"question_index": 0})
    _, reward, terminated, _, info = env.step(f"<answer>{answer}</answer>")
    assert terminated and info["reward_parts"]["outcome"] == pytest.approx(outcome)


def test_repeated_and_empty_queries_are_penalised(small_env):
    small_env.reset(seed=0, options={"question_index": 1})
    small_env.step("<search>Zorbin Lake</search>")
    _, _, _, _, info = small_env.step("<search>  zorbin   LAKE </search>")
    assert info["reward_parts"]["query_penalty"] == -1.0 and info["reward_parts"]["gold_hit"] == 0.0
    _, _, _, _, info = small_env.step("<search> </search>")
    assert "the query is empty" in info["tool_calls"][0]["output"]


def test_hermes_and_openai_parsers_reach_the_search_tool():
    for parser in ("hermes", "openai"):
        env = turngym.make("turngym/SearchQA-v0", corpus=DOCS, qa=QUESTIONS, parser=parser)
        env.reset(seed=0)
        obs, *_ = env.step(env.oracle_action())
        assert obs[0]["content"].startswith("<information>Doc 1(Title:")


def test_corpus_and_qa_files(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": d.id, "contents": d.contents}) + "\n" for d in DOCS))
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"id": "x", "question": "Capital of Quell?", "golden_answers": ["Marrow"]}) + "\n")
    env = turngym.make("turngym/SearchQA-v0", corpus=str(corpus), qa=str(qa))
    obs, _ = env.reset(seed=0)
    assert obs[1]["content"] == "Question: Capital of Quell?"
    obs, *_ = env.step("<search>capital of Quell</search>")
    assert "Title: Quell)" in obs[0]["content"]
    _, reward, terminated, _, _ = env.step("<answer>marrow</answer>")
    assert terminated and reward == 1.0


def test_oracle_solves_the_generated_world_and_the_gold_hooks_fire():
    vec = turngym.make_vec("turngym/MultiHopQA-v0", 4, hops=(1, 3))
    results = play_episodes(vec, OraclePolicy(), episodes=24)
    assert sum(r.outcome for r in results) / len(results) >= 0.95
    assert all(r.stop_reason == "answered" for r in results)
    assert sum(r.part_totals().get("gold_hit", 0) > 0 for r in results) >= 20


def test_multihop_hops_and_splits_are_disjoint():
    train = turngym.make("turngym/MultiHopQA-v0", hops=3, split="train")
    test = turngym.make("turngym/MultiHopQA-v0", hops=3, split="test")
    assert {q.id for q in train.questions}.isdisjoint({q.id for q in test.questions})
    train.reset(seed=0)
    assert len(train.state.task.facts["gold_doc_ids"]) == 3
    with pytest.raises(ValueError, match="hops must be an int in 1..4"):
        turngym.make("turngym/MultiHopQA-v0", hops=5)


def test_envs_share_one_index_and_forks_share_it_too():
    a = turngym.make("turngym/MultiHopQA-v0")
    b = turngym.make("turngym/MultiHopQA-v0")
    assert a.retriever is b.retriever
    a.reset(seed=0)
    assert a.fork().retriever is a.retriever


def test_a_vector_step_sends_one_batched_retrieval():
    calls = []

    class CountingRetriever:
        def __init__(self, inner):
            self.inner = inner

        def search_batch(self, queries, k):
            calls.append(list(queries))
            return self.inner.search_batch(queries, k)

        def get(self, doc_id):
            return self.inner.get(doc_id)

    retriever = CountingRetriever(BM25Retriever.build(DOCS))
    vec = turngym.make_vec("turngym/SearchQA-v0", 4, corpus=DOCS, qa=QUESTIONS, retriever=retriever)
    vec.reset(seed=0)
    step = vec.step(
        ["<search>Zorbin Lake</search>", "<search>Quell capital</search>", "<answer>x</answer>", "<search>Marrow</search>"]
    )
    assert calls == [["Zorbin Lake", "Quell capital", "Marrow"]]
    assert step.obs[1][0]["content"].startswith("<information>Doc 1(Title: Quell)")
    assert vec.envs[0].step_metrics["retrieval_batch"] == 3


def test_prefetched_hits_wait_for_the_next_step_and_stay_with_their_env(small_env):
    small_env.reset(seed=0, options={"question_index": 0})
    type(small_env).prefetch_batch([small_env], ["<search>Quell</search>"])
    assert list(small_env.pending_prefetch["hits"]) == ["Quell"] and small_env.pending_prefetch["metrics"]["retrieval_batch"] == 1
    fork = small_env.fork()
    assert fork.pending_prefetch is None
    fork.step("<search>Quell</search>")
    assert fork.step_metrics["retrievals"] == 1 and "retrieval_batch" not in fork.step_metrics  # searched itself
    small_env.step("<search>Quell</search>")
    assert small_env.pending_prefetch is None and small_env.step_metrics["retrieval_batch"] == 1
    assert small_env.last_step.scratch["retrieved"] == small_env.state.data["retrieved"] == [["d2", "d3"]]
    assert fork.last_step is not small_env.last_step and fork.state.data["retrieved"] == [["d2", "d3"]]


def test_search_hooks_on_a_real_step():
    env = turngym.make(
        "turngym/SearchQA-v0",
        corpus=DOCS,
        qa=QUESTIONS,
        topk=2,
        process_rewards=[GoldEvidenceHit(), EvidenceOverlap(), InformationGain(), QueryPenalty()],
    )
    env.reset(seed=0, options={"question_index": 0})
    _, _, _, _, info = env.step("<search>Zorbin Lake</search>")
    parts = info["reward_parts"]
    assert parts["gold_hit"] == 1.0 and parts["evidence"] == 1.0 and parts["query_penalty"] == 0.0
    assert parts["info_gain"] == 0.5  # d1 is gold and new; the other passage is neither
    _, _, _, _, info = env.step("<search>Zorbin depth metres</search>")
    assert info["reward_parts"]["gold_hit"] == 0.0 and info["reward_parts"]["info_gain"] == 0.0
    _, _, _, _, info = env.step("<answer>42</answer>")
    assert set(info["reward_parts"]) == {"outcome"}


def test_bad_arguments():
    with pytest.raises(ValueError, match="answer_metric must be one of"):
        turngym.make("turngym/SearchQA-v0", answer_metric="bleu")
    with pytest.raises(ValueError, match="give both corpus and qa"):
        turngym.make("turngym/SearchQA-v0", corpus=DOCS)
    with pytest.raises(ValueError, match="retriever must be one of"):
        turngym.make("turngym/SearchQA-v0", retriever=42)
    env = turngym.make("turngym/SearchQA-v0", corpus=DOCS, qa=QUESTIONS)
    with pytest.raises(ValueError, match="question_index"):
        env.reset(options={"question_index": 9})


def test_wikiqa_oracle_finds_real_articles():
    vec = turngym.make_vec("turngym/WikiQA-v0", 2, num_questions=40)
    results = play_episodes(vec, OraclePolicy(), episodes=8)
    assert sum(r.outcome for r in results) == len(results)
    assert sum(r.part_totals().get("gold_hit", 0) for r in results) >= 6


def test_registered_corpora_by_name(tmp_path):
    from typer.testing import CliRunner

    from turngym.cli import app
    from turngym.tools.retrieval import load_corpus

    env = turngym.make("turngym/SearchQA-v0", corpus="wikipedia", qa=[QAExample("w", "What is Quell?", ("x",))])
    assert len(env.retriever.documents) == 10_033
    out = tmp_path / "world.jsonl"
    result = CliRunner().invoke(app, ["corpus", "world", "--out", str(out), "--format", "contents"])
    assert result.exit_code == 0, result.output
    docs = load_corpus(out)
    assert len(docs) == len(turngym.make("turngym/MultiHopQA-v0").retriever.documents)
    assert CliRunner().invoke(app, ["corpus", "nowhere", "--out", str(out)]).exit_code != 0


def test_envs_on_one_server_url_share_a_client_and_batch_requests():
    from turngym.tools.retrieval.server import RetrievalServer

    retriever = BM25Retriever.build(DOCS)
    with RetrievalServer(retriever) as server:
        url = f"http://127.0.0.1:{server.port}"
        vec = turngym.make_vec("turngym/SearchQA-v0", 3, corpus=DOCS, qa=QUESTIONS, retriever=url)
        client = vec.envs[0].retriever
        assert all(env.retriever is client for env in vec.envs)
        vec.reset(seed=0)
        queries = vec.call("oracle_action")
        assert all(q.startswith("<search>") and "-" not in q and q[8:-9] in {d.title for d in DOCS} for q in queries)
        calls_before = client.calls
        step = vec.step(queries)
        assert client.calls == calls_before + 1
        assert all(obs[0]["content"].startswith("<information>Doc 1(Title:") for obs in step.obs)


def test_vector_steps_carry_each_envs_retrieval_metrics():
    vec = turngym.make_vec("turngym/SearchQA-v0", 2, corpus=DOCS, qa=QUESTIONS)
    vec.reset(seed=0)
    step = vec.step(["<search>Zorbin</search>", "<answer>x</answer>"])
    assert step.metrics[0]["retrievals"] == 1 and step.metrics[0]["retrieval_batch"] == 1
    assert step.metrics[0]["retrieval_s"] > 0 and step.metrics[1] == {}
    assert "retrieval_s" not in step.infos[0]


def test_search_hooks_read_the_grep_envs_shell_output():
    env = turngym.make(
        "turngym/GrepSearch-v0", corpus=DOCS, questions=QUESTIONS, process_rewards=[EvidenceOverlap(), InformationGain()]
    )
    env.reset(seed=0, options={"question_index": 0})
    _, _, _, _, info = env.step("<shell>cat docs/d1.txt</shell>")
    assert info["reward_parts"] == {"evidence": 1.0, "info_gain": 1.0}
    _, _, _, _, info = env.step("<shell>cat docs/d2.txt</shell>")
    assert info["reward_parts"] == {"evidence": 0.0, "info_gain": 0.0}
