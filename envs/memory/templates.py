"""Templates and word pools of the memory streams, and the invented words (names no haystack holds)."""

from __future__ import annotations

import hashlib

import numpy as np

from turngym.envs.memory.haystack import haystack

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
