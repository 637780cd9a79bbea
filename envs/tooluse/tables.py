"""The relational tables tasks query: three schemas (employees, products, cities) and seeded rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from turngym.envs.tooluse.units import BY_SYMBOL


@dataclass(frozen=True)
class Column:
    """One column. ``kind`` is ``key`` (unique names), ``category``, ``count`` (an integer),
    ``quantity`` (with a ``unit`` symbol of ``units.py``), ``money`` (US dollars) or ``date`` (ISO text)."""

    name: str
    sql_type: str
    kind: str
    noun: str
    unit: str | None = None
    low: float = 0
    high: float = 0
    decimals: int = 0
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "category":
            return f"{self.name} {self.sql_type} (one of {', '.join(self.choices)})"
        if self.kind == "quantity":
            return f"{self.name} {self.sql_type} ({BY_SYMBOL[self.unit].plural})"
        if self.kind == "money":
            return f"{self.name} {self.sql_type} (US dollars)"
        if self.kind == "date":
            return f"{self.name} {self.sql_type} (ISO date)"
        return f"{self.name} {self.sql_type}"


@dataclass(frozen=True)
class TableSpec:
    name: str
    singular: str
    plural: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def of_kind(self, *kinds: str) -> list[Column]:
        return [c for c in self.columns if c.kind in kinds]


_FIRST = ["Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam", "Mina", "Noah"]
_FIRST += ["Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wes", "Xena", "Yuki", "Zane"]
_LAST = ["Abbott", "Berg", "Castro", "Dahl", "Ekwueme", "Fischer", "Gupta", "Haas", "Ito", "Jensen", "Kowalski", "Lund"]
_LAST += ["Moreau", "Novak", "Okafor", "Petrov", "Quist", "Rossi", "Sato", "Tanaka", "Ulrich", "Varga", "Weber", "Young"]
_ADJECTIVES = ["Brass", "Cedar", "Copper", "Crystal", "Golden", "Iron", "Jade", "Linen", "Maple", "Marble", "Silver", "Velvet"]
_NOUNS = ["Anchor", "Basket", "Bucket", "Clock", "Drill", "Hammer", "Kettle", "Ladder", "Lantern", "Mixer", "Shovel", "Teapot"]
_NOUNS += ["Toolbox", "Trowel", "Whisk", "Wrench"]
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "ia", "ou"]
_CODAS = ["", "n", "r", "l", "sk", "nd", "burg", "ton", "ville"]

EMPLOYEES = TableSpec(
    "employees",
    "employee",
    "employees",
    (
        Column("name", "TEXT", "key", "name"),
        Column(
            "department", "TEXT", "category", "department", choices=("Sales", "Engineering", "Support", "Finance", "Marketing")
        ),
        Column("salary_usd", "INTEGER", "money", "monthly salary", "USD", 2500, 12000),
        Column(
            "hire_date", "TEXT", "date", "hire date", low=dt.date(2012, 1, 1).toordinal(), high=dt.date(2025, 12, 31).toordinal()
        ),
        Column("commute_km", "REAL", "quantity", "commute", "km", 0.5, 60, 1),
        Column("height_cm", "INTEGER", "quantity", "height", "cm", 150, 200),
    ),
)
PRODUCTS = TableSpec(
    "products",
    "product",
    "products",
    (
        Column("name", "TEXT", "key", "name"),
        Column("category", "TEXT", "category", "category", choices=("Tools", "Garden", "Kitchen", "Toys", "Office")),
        Column("price_usd", "REAL", "money", "price", "USD", 2, 150, 2),
        Column("weight_kg", "REAL", "quantity", "weight", "kg", 0.1, 30, 1),
        Column("volume_l", "REAL", "quantity", "volume", "L", 0.2, 40, 1),
        Column("stock", "INTEGER", "count", "stock", low=0, high=120),
        Column(
            "release_date",
            "TEXT",
            "date",
            "release date",
            low=dt.date(2018, 1, 1).toordinal(),
            high=dt.date(2026, 6, 30).toordinal(),
        ),
    ),
)
CITIES = TableSpec(
    "cities",
    "city",
    "cities",
    (
        Column("name", "TEXT", "key", "name"),
        Column("country", "TEXT", "category", "country", choices=("Arvenia", "Belmora", "Calden", "Dresmark")),
        Column("population", "INTEGER", "count", "population", low=8000, high=2500000),
        Column("elevation_m", "INTEGER", "quantity", "elevation", "m", 0, 3200),
        Column("avg_temp_c", "REAL", "quantity", "average temperature", "C", -6, 29, 1),
        Column("rainfall_mm", "INTEGER", "quantity", "yearly rainfall", "mm", 150, 2600),
        Column(
            "festival_date",
            "TEXT",
            "date",
            "festival date",
            low=dt.date(2026, 1, 1).toordinal(),
            high=dt.date(2027, 12, 31).toordinal(),
        ),
    ),
)
TABLES = {spec.name: spec for spec in (EMPLOYEES, PRODUCTS, CITIES)}


def _names(rng: np.random.Generator, table: str, n: int) -> list[str]:
    """``n`` unique row names, drawn in batches."""
    names: list[str] = []
    while len(names) < n:
        batch = 2 * n
        if table == "employees":
            first, last = rng.integers(len(_FIRST), size=batch), rng.integers(len(_LAST), size=batch)
            candidates = [f"{_FIRST[a]} {_LAST[b]}" for a, b in zip(first, last, strict=True)]
        elif table == "products":
            adjective, noun = rng.integers(len(_ADJECTIVES), size=batch), rng.integers(len(_NOUNS), size=batch)
            candidates = [f"{_ADJECTIVES[a]} {_NOUNS[b]}" for a, b in zip(adjective, noun, strict=True)]
        else:
            lengths = rng.integers(2, 4, size=batch)
            onsets, vowels = rng.integers(len(_ONSETS), size=(batch, 3)), rng.integers(len(_VOWELS), size=(batch, 3))
            codas = rng.integers(len(_CODAS), size=batch)
            candidates = [
                (
                    "".join(_ONSETS[onsets[i, k]] + _VOWELS[vowels[i, k]] for k in range(lengths[i])) + _CODAS[codas[i]]
                ).capitalize()
                for i in range(batch)
            ]
        for name in candidates:
            if name not in names and len(names) < n:
                names.append(name)
    return names


def _values(rng: np.random.Generator, column: Column, n: int) -> list[Any]:
    if column.kind == "category":
        return [column.choices[i] for i in rng.integers(len(column.choices), size=n)]
    if column.kind == "date":
        return [dt.date.fromordinal(int(d)).isoformat() for d in rng.integers(column.low, column.high + 1, size=n)]
    if column.sql_type == "INTEGER":
        step = 50 if column.kind == "money" else 1
        return [int(v) * step for v in rng.integers(column.low // step, column.high // step + 1, size=n)]
    scale = 10**column.decimals
    return [int(v) / scale for v in rng.integers(round(column.low * scale), round(column.high * scale) + 1, size=n)]


def make_table(rng: np.random.Generator, spec: TableSpec, rows: int) -> dict[str, Any]:
    """A table of ``rows`` rows with unique names: ``{"name", "columns": [[name, type]], "rows"}``."""
    if not 1 <= rows <= 100:
        raise ValueError(f"rows: expected 1..100 (names stay unique), got {rows}")
    columns = [_names(rng, spec.name, rows), *(_values(rng, c, rows) for c in spec.columns[1:])]
    return {
        "name": spec.name,
        "columns": [[c.name, c.sql_type] for c in spec.columns],
        "rows": [list(r) for r in zip(*columns, strict=True)],
    }


def describe_table(spec: TableSpec, rows: int) -> str:
    """The schema as the prompt shows it (the rows stay hidden: the model must query them)."""
    return f"Table `{spec.name}` ({rows} rows, one per {spec.singular}): " + ", ".join(c.describe() for c in spec.columns) + "."
