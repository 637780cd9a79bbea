"""Underspecified problems for ``turngym/Clarify-v0``: one variable's value is left out; only the user knows it.

Four families: ``arithmetic`` word problems (candidates 1..9), ``planning`` (a schedule with one
missing duration, candidates 1..5 hours), ``logic`` (a comparison chain with one missing
relation, two candidates) and ``booking`` (a booking without its day, the 7 weekdays, or its
afternoon hour, 1..8; the answer is that value itself). Every problem's gold answer differs for
each candidate value, so a guess without asking is right with probability 1 / len(candidates)
exactly (uniform prior).

Held-out split: within each family, a quarter of the (template, missing variable) units and a
quarter of the person names (by a BLAKE2 hash) are ``"test"``; the rest are ``"train"``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FAMILIES = ("arithmetic", "planning", "logic", "booking")
DEFAULT_FAMILIES = FAMILIES[:3]  # the env's default; "booking" is asked for by name
SPLITS = ("train", "test")
TEST_SHARE = 0.25
NAMES = (
    "Mia", "Leo", "Ava", "Noah", "Zoe", "Liam", "Ella", "Omar", "Iris", "Hugo", "Nora", "Ivan", "Lena", "Ravi",
    "Maya", "Theo", "Aria", "Jonas", "Sara", "Felix", "Yara", "Elias", "Nina", "Pablo", "Rosa", "Tariq", "Vera",
    "Kenji", "Lucia", "Amir", "Greta", "Diego", "Hana", "Milo", "Ines", "Oscar", "Priya", "Samir", "Tess", "Uma",
)  # fmt: skip


@dataclass(frozen=True)
class Variable:
    """One quantity of a template: ``known`` states it (``{v}`` = its value), ``vague`` replaces it
    when it is the missing one; ``aliases`` are the phrases that ask for it (the first is its label)."""

    name: str
    known: str
    vague: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    id: str
    family: str
    intro: str
    variables: tuple[Variable, ...]
    question: str
    answer: Callable[[Mapping[str, Any]], str]
    candidates: tuple[str, ...]
    people: int = 1  # how many person names it takes ({P}, or {A} {B} {C} {D})


@dataclass(frozen=True)
class Problem:
    """One drawn problem. ``text``: what the agent sees (the missing sentence made vague).
    ``statements``: each variable's sentence with its true value (what the user says when asked).
    ``reveals``: the missing variable's sentence for each candidate value. ``answers``: the gold
    answer for each candidate value."""

    id: str
    family: str
    template: str
    text: str
    missing: str
    value: str
    candidates: tuple[str, ...]
    known: dict[str, str]
    statements: dict[str, str]
    aliases: dict[str, tuple[str, ...]]
    reveals: dict[str, str]
    answers: dict[str, str]
    names: tuple[str, ...]

    @property
    def answer(self) -> str:
        return self.answers[self.value]

    @property
    def label(self) -> str:
        """The missing variable in words ("number of boxes"): its first alias."""
        return self.aliases[self.missing][0]


DIGITS = tuple(str(i) for i in range(1, 10))
HOURS = tuple(str(i) for i in range(1, 6))
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CLOCK = tuple(str(i) for i in range(1, 9))  # afternoon hours, one digit each


def _v(values: Mapping[str, Any], *names: str) -> list[int]:
    return [int(values[n]) for n in names]


def _product_plus(a: str, b: str, c: str) -> Callable[[Mapping[str, Any]], str]:
    def answer(values: Mapping[str, Any]) -> str:
        x, y, z = _v(values, a, b, c)
        return str(x * y + z)

    return answer


def _hours(start: int, sign: int, *names: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda values: str(start + sign * sum(_v(values, *names)))


def _arithmetic(id_: str, intro: str, question: str, answer, *variables: Variable) -> Template:
    return Template(id_, "arithmetic", intro, variables, question, answer, DIGITS)


def _planning(id_: str, intro: str, question: str, answer, *variables: Variable) -> Template:
    return Template(id_, "planning", intro, variables, question, answer, HOURS)


V = Variable
TEMPLATES: tuple[Template, ...] = (
    _arithmetic("pens", "", "How many pens does {P} have now?", _product_plus("boxes", "per_box", "owned"),
        V("boxes", "{P} buys {v} boxes of pens.", "{P} buys some boxes of pens.", ("number of boxes", "boxes")),
        V("per_box", "Each box holds {v} pens.", "Every box holds the same number of pens.",
          ("number of pens per box", "per box", "each box", "every box", "in a box")),
        V("owned", "{P} already owned {v} pens.", "{P} already owned some pens.",
          ("number of pens already owned", "already", "owned", "before"))),
    _arithmetic("apples", "", "How many apples does {P} have in the end?", _product_plus("days", "per_day", "gift"),
        V("days", "{P} picks apples for {v} days.", "{P} picks apples for several days.", ("number of days", "days", "how long")),
        V("per_day", "{P} picks {v} apples each day.", "{P} picks the same number of apples each day.",
          ("number of apples per day", "per day", "each day", "every day", "a day")),
        V("gift", "A neighbour gives {P} {v} more apples.", "A neighbour gives {P} some more apples.",
          ("number of apples from the neighbour", "neighbour", "neighbor"))),
    _arithmetic("bus", "", "How many people can ride the bus at once?", _product_plus("rows", "seats", "standing"),
        V("rows", "The bus has {v} rows of seats.", "The bus has several rows of seats.", ("number of rows", "rows")),
        V("seats", "Each row has {v} seats.", "Each row has the same number of seats.",
          ("number of seats per row", "per row", "each row", "every row", "a row")),
        V("standing", "{v} more passengers may stand.", "A few more people may stand.",
          ("number of standing passengers", "standing", "stand"))),
    _arithmetic("savings", "", "How many dollars does {P} have at the end?", _product_plus("weekly", "weeks", "start"),
        V("weekly", "{P} saves {v} dollars every week.", "{P} saves the same amount every week.",
          ("amount saved per week", "per week", "each week", "every week", "a week", "weekly")),
        V("weeks", "{P} saves for {v} weeks.", "{P} saves for a few weeks.", ("number of weeks", "weeks", "how long")),
        V("start", "{P} started with {v} dollars.", "{P} started with some dollars.",
          ("starting amount", "started", "starting", "start"))),
    _arithmetic("running", "", "How many km does {P} run over the three days?",
        lambda values: str(sum(_v(values, "monday", "tuesday", "wednesday"))),
        V("monday", "On Monday {P} runs {v} km.", "On Monday {P} runs too.", ("Monday distance", "monday")),
        V("tuesday", "On Tuesday {P} runs {v} km.", "On Tuesday {P} runs too.", ("Tuesday distance", "tuesday")),
        V("wednesday", "On Wednesday {P} runs {v} km.", "On Wednesday {P} runs too.", ("Wednesday distance", "wednesday"))),
    _arithmetic("library", "", "How many books does the library have?", _product_plus("shelves", "per_shelf", "cart"),
        V("shelves", "The library has {v} shelves.", "The library has several shelves.", ("number of shelves", "shelves")),
        V("per_shelf", "Each shelf holds {v} books.", "Each shelf holds the same number of books.",
          ("number of books per shelf", "per shelf", "each shelf", "every shelf", "a shelf")),
        V("cart", "{v} more books sit on a cart.", "Some more books sit on a cart.", ("number of books on the cart", "cart"))),
    _planning("workday", "{P} starts work at 8:00 and does three tasks one after another, with no breaks.",
        "At what hour does {P} finish? Give the hour on a 24-hour clock.", _hours(8, 1, "email", "meetings", "writing"),
        V("email", "Email takes {v} hours.", "Email takes a few hours.", ("time spent on email", "email", "emails")),
        V("meetings", "Meetings take {v} hours.", "Meetings take a few hours.",
          ("time spent in meetings", "meetings", "meeting")),
        V("writing", "Writing takes {v} hours.", "Writing takes a few hours.", ("time spent writing", "writing", "write"))),
    _planning("trip", "{P} leaves home at 6:00 and travels without waiting between legs.",
        "At what hour does {P} arrive? Give the hour on a 24-hour clock.", _hours(6, 1, "train", "ferry", "coach"),
        V("train", "The train ride takes {v} hours.", "The train ride takes a few hours.", ("length of the train ride", "train")),
        V("ferry", "The ferry takes {v} hours.", "The ferry takes a few hours.", ("length of the ferry ride", "ferry", "boat")),
        V("coach", "The coach ride takes {v} hours.", "The coach ride takes a few hours.",
          ("length of the coach ride", "coach"))),
    _planning("dinner", "Dinner must be ready at 21:00. {P} does three steps, one after another.",
        "At what hour must {P} start? Give the hour on a 24-hour clock.", _hours(21, -1, "marinating", "baking", "resting"),
        V("marinating", "Marinating takes {v} hours.", "Marinating takes a few hours.",
          ("marinating time", "marinating", "marinate")),
        V("baking", "Baking takes {v} hours.", "Baking takes a few hours.", ("baking time", "baking", "bake", "oven")),
        V("resting", "Resting takes {v} hours.", "Resting takes a few hours.", ("resting time", "resting", "rest"))),
)  # fmt: skip


def _logic(id_: str, more: str, less: str, top: str, bottom: str, end: str) -> Template:
    """A chain A > B > C, and D compared with the top (A) or the bottom (C): the missing relation."""
    other, superlative, d_wins = ("A", top, more) if end == "top" else ("C", bottom, less)
    return Template(
        id=f"{id_}-{end}",
        family="logic",
        intro="",
        variables=(
            V("ab", f"{{A}} is {more} than {{B}}.", f"{{A}} is {more} than {{B}}.", ("{A} {B}",)),
            V("bc", f"{{B}} is {more} than {{C}}.", f"{{B}} is {more} than {{C}}.", ("{B} {C}",)),
            V(
                "d",
                f"{{D}} is {{v}} than {{{other}}}.",
                "{D} is also in the group.",
                (f"relation between {{D}} and {{{other}}}", "{D}"),
            ),
        ),
        question=f"Who is the {superlative} of the four?",
        answer=lambda values: values["D"] if values["d"] == d_wins else values[other],
        candidates=(more, less),
        people=4,
    )


LOGIC = [
    ("height", "taller", "shorter", "tallest", "shortest"),
    ("age", "older", "younger", "oldest", "youngest"),
    ("speed", "faster", "slower", "fastest", "slowest"),
    ("weight", "heavier", "lighter", "heaviest", "lightest"),
]
TEMPLATES += tuple(_logic(*row, end) for row in LOGIC for end in ("top", "bottom"))


def _booking(id_: str, thing: str, unit: str) -> Template:
    """Book ``thing`` for {P}; the one variable, the day or the hour, is left out; the answer is its value."""
    day = unit == "day"
    return Template(
        id=f"booking-{id_}",
        family="booking",
        intro=f"Please book {thing} for {{P}}{'' if day else ' this afternoon'}.",
        variables=(V(unit, "Book it for {v}.", f"I have not told you the {unit}.", (unit, "date" if day else "time", "when")),),
        question=f"Which {unit} do you book?",
        answer=lambda values: values[unit],
        candidates=DAYS if day else CLOCK,
    )


BOOKING = [
    ("restaurant", "a table at the restaurant", "day"),
    ("haircut", "a haircut", "day"),
    ("dentist", "a visit to the dentist", "day"),
    ("hotel", "a room at the hotel", "day"),
    ("cinema", "two seats at the cinema", "day"),
    ("museum", "a tour of the museum", "day"),
    ("taxi", "a taxi", "hour"),
    ("court", "a tennis court", "hour"),
]
TEMPLATES += tuple(_booking(*row) for row in BOOKING)
BY_ID = {t.id: t for t in TEMPLATES}


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _test_share(keys: Sequence[str]) -> set[str]:
    """The quarter of ``keys`` (at least one) with the smallest hashes."""
    ranked = sorted(keys, key=_hash)
    return set(ranked[: max(1, math.ceil(len(ranked) * TEST_SHARE))])


def units(template: Template) -> list[str]:
    """The (template, missing variable) units of a template, as ``"template:variable"``; a logic
    template has one (its missing relation is always ``d``)."""
    names = ["d"] if template.family == "logic" else [v.name for v in template.variables]
    return [f"{template.id}:{n}" for n in names]


TEST_UNITS = set().union(*(_test_share([u for t in TEMPLATES if t.family == f for u in units(t)]) for f in FAMILIES))
TEST_NAMES = _test_share(NAMES)


def unit_split(unit: str) -> str:
    return "test" if unit in TEST_UNITS else "train"


def name_split(name: str) -> str:
    return "test" if name in TEST_NAMES else "train"


def split_units(split: str, families: Sequence[str]) -> list[str]:
    return [u for t in TEMPLATES if t.family in families for u in units(t) if unit_split(u) == split]


def draw_problem(rng: np.random.Generator, split: str, families: Sequence[str]) -> Problem:
    """A problem from ``split``'s units and names, drawn with ``rng`` (a family uniformly, then a unit)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    family = families[int(rng.integers(len(families)))]
    pool = split_units(split, [family])
    template_id, missing = pool[int(rng.integers(len(pool)))].split(":")
    template = BY_ID[template_id]
    names = [n for n in NAMES if name_split(n) == split]
    picked = [names[i] for i in rng.choice(len(names), size=template.people, replace=False)]
    people = dict(zip(("P",) if template.people == 1 else ("A", "B", "C", "D"), picked, strict=True))
    values = {  # a relation stated outright (a logic chain's) holds its first candidate
        v.name: template.candidates[int(rng.integers(len(template.candidates)))] if "{v}" in v.known else template.candidates[0]
        for v in template.variables
    }
    return _build(template, missing, values, people)


def _build(template: Template, missing: str, values: dict[str, str], people: dict[str, str]) -> Problem:
    def fill(text: str, value: str = "") -> str:
        return _singular(text.format(v=value, **people))

    by_name = {v.name: v for v in template.variables}
    sentences = [fill(v.vague if v.name == missing else v.known, values[v.name]) for v in template.variables]
    text = " ".join(s for s in [fill(template.intro), *sentences, fill(template.question)] if s)
    answers = {c: template.answer({**values, missing: c, **people}) for c in template.candidates}
    value = values[missing]
    digest = hashlib.blake2b(f"{text}|{value}".encode(), digest_size=6).hexdigest()
    return Problem(
        id=f"clarify-{template.id}-{missing}-{digest}",
        family=template.family,
        template=template.id,
        text=text,
        missing=missing,
        value=value,
        candidates=template.candidates,
        known={n: v for n, v in values.items() if n != missing},
        statements={v.name: fill(v.known, values[v.name]) for v in template.variables},
        aliases={v.name: tuple(fill(a) for a in v.aliases) for v in template.variables},
        reveals={c: fill(by_name[missing].known, c) for c in template.candidates},
        answers=answers,
        names=tuple(people.values()),
    )


SINGULAR = {"boxes": "box", "shelves": "shelf", "hours": "hour"}


def _singular(text: str) -> str:
    """ "1 boxes" -> "1 box", "1 apples" -> "1 apple"."""
    return re.sub(r"\b1 (more )?(\w+)", lambda m: f"1 {m[1] or ''}{SINGULAR.get(m[2], m[2].removesuffix('s'))}", text)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def names_variable(question: str, aliases: Sequence[str]) -> bool:
    """Whether ``question`` asks for a variable: every word of one of its aliases appears in it."""
    asked = words(question)
    return any(words(alias) <= asked for alias in aliases)


def normalise_answer(text: str) -> str:
    """Lower case, no surrounding spaces or final full stop; "17:00" reads as "17"."""
    text = text.strip().lower().rstrip(".").strip()
    hour = re.fullmatch(r"(\d{1,2}):00", text)
    return hour.group(1) if hour else text
