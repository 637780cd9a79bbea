"""Matching an agent's tool calls to a task's reference calls, in any order the dependencies allow.

Reference calls are ``{"name", "arguments", "output", "after"}``; ``after`` lists the calls whose
outputs a call uses. The *frontier* is the unmatched calls whose ``after`` are all matched: the
calls that may come next. A call *matches* a frontier call when it ran, has the same name, and
either every argument agrees (numbers within a relative 1e-4, units by symbol, dates as dates,
other strings ignoring case and spaces) or, for a free-form argument (a calculator expression,
SQL, code), its output equals the reference output: "3*4" and "4*3" both match "12" (and Python
output whose last number is the reference number matches it, so "N = 42" matches "42").

A call may also match a reference call beyond the frontier when its arguments equal the reference
arguments exactly (after normalising): the agent found the inputs without the calls before it
(arithmetic done in its head, two queries folded into one), and those calls count as matched too.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from turngym.envs.tooluse.units import canonical_unit

FREE_FORM = frozenset({("calculator", "expression"), ("query_table", "sql"), ("python", "code")})
UNIT_ARGUMENTS = frozenset({("convert_units", "from_unit"), ("convert_units", "to_unit")})
DATE_ARGUMENTS = frozenset({("date_add", "date"), ("days_between", "start"), ("days_between", "end"), ("weekday", "date")})
NUMBER_RTOL = 1e-4


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.replace(",", "").strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _text(value: Any) -> str:
    return " ".join(str(value).casefold().split())


def values_match(tool: str, param: str, got: Any, want: Any) -> bool:
    """Whether an argument value equals the reference value, normalised for its kind."""
    if (tool, param) in UNIT_ARGUMENTS and isinstance(got, str) and isinstance(want, str):
        return canonical_unit(got) == canonical_unit(want)
    if (tool, param) in DATE_ARGUMENTS and isinstance(got, str) and isinstance(want, str):
        try:
            return dt.date.fromisoformat(got.strip()) == dt.date.fromisoformat(want.strip())
        except ValueError:
            return False
    a, b = _number(got), _number(want)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=NUMBER_RTOL, abs_tol=1e-9)
    return _text(got) == _text(want)


_NUMBERS = re.compile(r"-?\d+(?:\.\d+)?")


def outputs_match(got: str, want: str, *, last_number: bool = False) -> bool:
    """Whether a tool output equals the reference output (numbers within 1e-6, text ignoring case and
    spaces); with ``last_number``, a numeric reference also matches the last number printed."""
    a, b = _number(got), _number(want)
    if a is None and b is not None and last_number:
        found = _NUMBERS.findall(got)
        a = float(found[-1]) if found else None
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return _text(got) == _text(want)


def _output_matches(call: Mapping[str, Any], ref: Mapping[str, Any]) -> bool:
    return bool(call.get("ok")) and outputs_match(str(call.get("output", "")), ref["output"], last_number=ref["name"] == "python")


def _arguments(call: Mapping[str, Any]) -> dict[str, Any]:
    arguments = call.get("arguments")
    return arguments if isinstance(arguments, dict) else {}


def argument_score(call: Mapping[str, Any], ref: Mapping[str, Any]) -> float:
    """ToolRL's parameter match for one call against one reference call of the same tool: the mean of
    the Jaccard index of the argument names and the share of reference values matched, in [0, 1]."""
    got, want = _arguments(call), ref["arguments"]
    names = set(got) | set(want)
    name_share = len(set(got) & set(want)) / len(names) if names else 1.0
    if not want:
        return name_share
    hits = 0
    for param, value in want.items():
        if (ref["name"], param) in FREE_FORM:
            hits += _output_matches(call, ref)
        else:
            hits += param in got and values_match(ref["name"], param, got[param], value)
    return 0.5 * name_share + 0.5 * hits / len(want)


def full_match(call: Mapping[str, Any], ref: Mapping[str, Any]) -> bool:
    """The call ran, names the same tool, and its arguments (or, for free-form ones, its output) match."""
    if call.get("name") != ref["name"] or not call.get("ok"):
        return False
    if any((ref["name"], p) in FREE_FORM for p in ref["arguments"]):
        return _output_matches(call, ref)
    return argument_score(call, ref) == 1.0


def same_arguments(call: Mapping[str, Any], ref: Mapping[str, Any]) -> bool:
    """The call ran, names the same tool, and every argument equals the reference's (normalised; free-form
    text ignoring case and spaces): a match that needs no output to compare."""
    got = _arguments(call)
    if call.get("name") != ref["name"] or not call.get("ok") or set(got) != set(ref["arguments"]):
        return False
    return all(
        _text(got[p]) == _text(v) if (ref["name"], p) in FREE_FORM else values_match(ref["name"], p, got[p], v)
        for p, v in ref["arguments"].items()
    )


def ancestors(refs: Sequence[Mapping[str, Any]], j: int) -> set[int]:
    """The reference calls whose outputs call ``j`` needs, directly or through others."""
    found: set[int] = set()
    todo = list(refs[j]["after"])
    while todo:
        k = todo.pop()
        if k not in found:
            found.add(k)
            todo.extend(refs[k]["after"])
    return found


@dataclass
class Progress:
    """Which reference calls earlier calls matched, and which they attempted (same tool, no match)."""

    matched: set[int] = field(default_factory=set)
    attempted: set[int] = field(default_factory=set)

    def frontier(self, refs: Sequence[Mapping[str, Any]]) -> list[int]:
        return [j for j, ref in enumerate(refs) if j not in self.matched and all(a in self.matched for a in ref["after"])]


@dataclass(frozen=True)
class Pairing:
    """This step's calls paired with reference calls: (call index, reference index, full match)."""

    pairs: tuple[tuple[int, int, bool], ...]
    calls: int


def pair_calls(refs: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]], progress: Progress) -> Pairing:
    """Pair each call with a frontier reference call of its tool: a full match if one exists (or a later
    call with the same arguments), else one not attempted before (its best-scoring one); a reference call
    is credited once, except by a full match."""
    frontier = progress.frontier(refs)
    used: set[int] = set()
    pairs = []
    for i, call in enumerate(calls):
        candidates = [j for j in frontier if refs[j]["name"] == call.get("name") and j not in used]
        full = [j for j in candidates if full_match(call, refs[j])]
        full = full or [
            j
            for j, ref in enumerate(refs)
            if j not in progress.matched and j not in frontier and j not in used and same_arguments(call, ref)
        ]
        if full:
            j, is_full = full[0], True
        else:
            fresh = [j for j in candidates if j not in progress.attempted]
            if not fresh:
                continue
            j, is_full = max(fresh, key=lambda k: (argument_score(call, refs[k]), -k)), False
        used.add(j)
        pairs.append((i, j, is_full))
    return Pairing(tuple(pairs), len(calls))


def replay(refs: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]]) -> Progress:
    """The progress after ``calls`` (earlier steps' calls, in order), one call at a time."""
    progress = Progress()
    for call in calls:
        for _, j, is_full in pair_calls(refs, [call], progress).pairs:
            if is_full:
                progress.matched |= {j, *ancestors(refs, j)}
            progress.attempted.add(j)
    return progress
