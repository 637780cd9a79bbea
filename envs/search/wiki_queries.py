"""Retrieval questions about the Wikipedia summaries, each with its one gold article, for measuring retrievers.

``retrieval_questions`` makes at most one question per article, of one of five kinds drawn at
random among those that apply to it; every question is built from the article's own words (or
its Wikipedia short description), never paraphrased by a model:

- ``entity``: ``"What is Dysprosium?"`` / ``"Who is Greta Garbo?"`` (people by the ``People``
  topic); only for titles no other article shares once "(...)" suffixes are dropped.
- ``definition``: the first sentence's ``"X is a Y"`` turned round, cut at the first clause:
  ``"Who was a Swedish and American film actress?"``.
- ``description``: the short description, when no other article has the same one:
  ``'Which subject is described as "1968 film by Stanley Kubrick"?'``.
- ``pronoun``: a later sentence that starts with He/She/It/They, asked as Who/What:
  ``"Who was a leading star during Hollywood's silent and early golden eras?"``.
- ``title_cloze``: WikiQA's first-sentence cloze (``turngym.envs.search.wiki``).

No question names its article's title except ``entity`` ones. Articles are split once and for
all by a hash of their id into ``dev`` (a third: tune on it) and ``heldout`` (report on it), so
no article gives questions to both. ``answers`` holds the title without its "(...)" suffix.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from turngym.envs.search.qa import QAExample
from turngym.envs.search.wiki import _base_title, _contains, _padded, _title_cloze, split_sentences
from turngym.tools.retrieval.corpus import Document

__all__ = ["RETRIEVAL_KINDS", "SPLITS", "article_split", "retrieval_questions"]

RETRIEVAL_KINDS = ("entity", "definition", "description", "pronoun", "title_cloze")
SPLITS = ("dev", "heldout")
_COPULA = re.compile(r"^(?P<subject>.+?)\s+(?P<verb>is|was|are|were)\s+(?P<det>an?|the)\s+(?P<rest>.+)$")
_CLAUSE_END = re.compile(r"[,;:(\[]|\s(?:who|which|that|whose|where|and is|and was)\s")
_PRONOUN = re.compile(r"^(?P<pronoun>He|She|It|They)\s+(?P<rest>[a-z].*?)[.!]?$")
_MIN_WORDS, _MAX_WORDS = 3, 16


def article_split(doc_id: str) -> str:
    """``"dev"`` for a third of the articles, ``"heldout"`` for the rest, fixed by a hash of the id."""
    return "dev" if hashlib.blake2b(doc_id.encode(), digest_size=2).digest()[0] % 3 == 0 else "heldout"


def retrieval_questions(
    docs: Sequence[Document], info: Mapping[str, Mapping[str, str]], *, split: str, seed: int = 0, n: int | None = None
) -> list[QAExample]:
    """Up to one question per article of ``split`` (``dev`` or ``heldout``), in an order drawn from ``seed``.

    ``info`` maps a document id to its ``description`` and ``topic`` (``wiki_article_info()``; an
    id it lacks gets neither kind that needs them). Returns the first ``n`` (all when ``None``).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ValueError(f"expected n to be a non-negative int or None, got {n!r}")
    base_counts = Counter(_normalize(_base_title(d.title)) for d in docs)
    description_counts = Counter(_normalize(info.get(d.id, {}).get("description", "")) for d in docs)
    rng = np.random.default_rng(seed)
    out: list[QAExample] = []
    for i in rng.permutation(len(docs)):
        doc = docs[int(i)]
        if article_split(doc.id) != split:
            continue
        if n is not None and len(out) == n:
            break
        meta = info.get(doc.id, {})
        made = {
            "entity": _entity(doc, meta, base_counts),
            "definition": _definition(doc, meta),
            "description": _description(doc, meta, description_counts),
            "pronoun": _pronoun(doc, rng),
            "title_cloze": _cloze(doc),
        }
        kinds = [k for k in RETRIEVAL_KINDS if made[k] is not None]
        if not kinds:
            continue
        kind = kinds[int(rng.integers(len(kinds)))]
        base = _base_title(doc.title)
        out.append(
            QAExample(
                id=f"wikiret-{kind}-{doc.id}",
                question=made[kind],
                answers=tuple(dict.fromkeys((base, doc.title))),
                gold_doc_ids=((doc.id,),),
                hops=1,
                kind=kind,
                meta={"title": doc.title, "split": split},
            )
        )
    return out


def _normalize(text: str) -> str:
    return _padded(text).strip()


def _wh(meta: Mapping[str, str]) -> str:
    return "Who" if meta.get("topic") == "People" else "What"


def _entity(doc: Document, meta: Mapping[str, str], base_counts: Counter[str]) -> str | None:
    base = _base_title(doc.title)
    if len(base) < 2 or base_counts[_normalize(base)] != 1:
        return None
    return f"{_wh(meta)} is {base}?"


def _definition(doc: Document, meta: Mapping[str, str]) -> str | None:
    sentences = split_sentences(doc.text)
    base = _base_title(doc.title)
    m = _COPULA.match(sentences[0]) if sentences else None
    if m is None or not _contains(_padded(m["subject"]), base):
        return None
    predicate = _CLAUSE_END.split(m["rest"], maxsplit=1)[0].strip().rstrip(".").strip()
    if not _MIN_WORDS <= len(predicate.split()) <= _MAX_WORDS or _contains(_padded(predicate), base):
        return None
    return f"{_wh(meta)} {m['verb']} {m['det']} {predicate}?"


def _description(doc: Document, meta: Mapping[str, str], description_counts: Counter[str]) -> str | None:
    description = meta.get("description", "").strip()
    if len(description.split()) < _MIN_WORDS or description_counts[_normalize(description)] != 1:
        return None
    if _contains(_padded(description), _base_title(doc.title)):
        return None
    return f'Which subject is described as "{description}"?'


def _pronoun(doc: Document, rng: np.random.Generator) -> str | None:
    base = _base_title(doc.title)
    found = []
    for sentence in split_sentences(doc.text)[1:]:
        m = _PRONOUN.match(sentence)
        if m and 6 <= len(sentence.split()) <= 40 and not _contains(_padded(sentence), base):
            found.append(f"{'Who' if m['pronoun'] in ('He', 'She') else 'What'} {m['rest'].strip()}?")
    return found[int(rng.integers(len(found)))] if found else None


def _cloze(doc: Document) -> str | None:
    made = _title_cloze(doc, split_sentences(doc.text), _padded(doc.text))
    return None if made is None else made[0]
