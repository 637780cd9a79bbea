"""The plan of a memory stream: its facts (needles), their chunks and offsets, and the questions about them.

Built once per stream in O(num_facts + num_questions + num_examples); ``MemoryStream`` (streams.py) holds it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from turngym.envs.memory.haystack import Haystack, haystack
from turngym.envs.memory.templates import (
    _ASK,
    _ATTR_WEIGHTS,
    _CLASSIFY,
    _COLOURS,
    _COMPANY_WORDS,
    _COUNT,
    _EXAMPLE,
    _FACT,
    _MONTHS,
    _MULTIHOP,
    _NUMBER_WORDS,
    _PREFIX,
    _RANDOM_ATTRS,
    _UPDATE,
    _invent,
    _name_pool,
)

if TYPE_CHECKING:
    from turngym.envs.memory.streams import MemoryStream

_NUM_CLASSES, _COLOURS_PER_CLASS = 3, 2


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


@dataclass(frozen=True)
class _Plan:
    num_chunks: int
    facts: tuple[Fact, ...]
    by_chunk: dict[int, tuple[Fact, ...]]
    questions: tuple[Question, ...]


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
            return self._from_pool(_name_pool(self.s.split, self.s.haystack, self.s.names), "names")
        return _invent(self.rng, self.used, self.hay.vocabulary, self.s.split).capitalize()

    def town(self) -> str:
        """A town: a name, or with ``town_names`` a word of the towns' own pool (after the names' pool)."""
        if not self.s.town_names:
            return self.word()
        pool = _name_pool(self.s.split, self.s.haystack, self.s.names + self.s.town_names)[self.s.names :]
        return self._from_pool(pool, "town_names")

    def _from_pool(self, pool: Sequence[str], setting: str) -> str:
        fresh = [w for w in pool if w not in self.used]
        if not fresh:
            size = getattr(self.s, setting)
            raise ValueError(f"{setting}={size} is too small for the stream's invented words; raise it or set 0")
        self.used.add(w := fresh[int(self.rng.integers(len(fresh)))])
        return w.capitalize()

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
            "lives_in": [self.town() for _ in range(max(3, s.num_facts // 4))],
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
