"""A task under construction: the table, the reference calls run so far, the prompt's sentences."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from turngym.envs.tooluse.dates import date_add, days_between, weekday
from turngym.envs.tooluse.table_query import format_rows, open_table, run_select
from turngym.envs.tooluse.tables import TableSpec
from turngym.envs.tooluse.units import convert_units
from turngym.tools.calculator import calculator
from turngym.tools.core import ToolError

_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_TOOLS = {t.name: t for t in (calculator, convert_units, date_add, days_between, weekday)}


class Reject(Exception):
    """This draw cannot make a good task (an empty aggregate, a number out of a tool's range); draw again."""


@dataclass(frozen=True)
class Value:
    """A step's result. ``kind``: ``int``, ``number``, ``quantity`` (``unit`` a unit symbol), ``money``,
    ``date`` or ``text``; ``text`` is exactly what the tool printed; ``ref`` how the prompt refers to
    it ("that weight", or the literal for a value given in the prompt); ``call`` the index of the
    reference call that made it (None when the prompt gives it)."""

    kind: str
    text: str
    ref: str
    unit: str | None = None
    noun: str = "number"
    call: int | None = None

    @property
    def is_integer(self) -> bool:
        return bool(_INTEGER.fullmatch(self.text))

    @property
    def number(self) -> int | float:
        if self.is_integer:
            return int(self.text)
        if _NUMBER.fullmatch(self.text):
            return float(self.text)
        raise Reject(f"{self.text!r} is not a number")

    @property
    def after(self) -> list[int]:
        return [] if self.call is None else [self.call]


@dataclass
class Chain:
    """The state of one draw: ``calls`` are the reference calls (name, arguments, output, after)."""

    rng: np.random.Generator
    spec: TableSpec
    table: dict[str, Any]
    python: bool
    calls: list[dict[str, Any]] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    _database: sqlite3.Connection | None = field(default=None, repr=False)

    def pick(self, items: list[Any] | tuple[Any, ...]) -> Any:
        return items[int(self.rng.integers(len(items)))]

    def call(self, name: str, arguments: dict[str, Any], after: list[int], output: str | None = None) -> tuple[str, int]:
        """Run a reference call with the real tool (or take ``output``, computed without it); (output, index)."""
        if output is None and name == "query_table":
            if self._database is None:
                self._database = open_table(self.table)
            try:
                output = format_rows(run_select(self.table, arguments["sql"], self._database))
            except (ValueError, ToolError) as exc:
                raise Reject(f"{arguments['sql']} failed: {exc}") from None
        if output is None:
            result = _TOOLS[name].run(arguments, {"table": self.table})
            if not result.ok:
                raise Reject(f"{name}({arguments}) failed: {result.output}")
            output = result.output
        self.calls.append({"name": name, "arguments": arguments, "output": output, "after": sorted(set(after))})
        return output, len(self.calls) - 1

    @property
    def tools_used(self) -> set[str]:
        return {c["name"] for c in self.calls}

    def close(self) -> None:
        if self._database is not None:
            self._database.close()
            self._database = None
