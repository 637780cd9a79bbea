"""Final answers: the canonical form of a result and how a model's answer is scored against it.

Numbers are compared with the exact result within half a unit of the second decimal (the prompt
asks for 2 decimals; more decimals are fine too), dates as ISO dates, days of the week by name.
"""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction

from turngym.envs.tooluse.units import format_number

NUMBER_TOLERANCE = 0.005
_NUMBER_ANSWER = re.compile(r"([-+]?\d[\d,]*(?:\.\d+)?)(?:\s*[^\d\s][^\d]*)?")  # a number, maybe a unit word after it
ANSWER_KINDS = ("number", "date", "text")


def answer_kind(value_kind: str) -> str:
    """``number``, ``date`` or ``text`` for a ``Value.kind``."""
    return {"date": "date", "text": "text"}.get(value_kind, "number")


def canonical_answer(result: str, kind: str) -> str:
    """The reference answer: numbers rounded to 2 decimals ("60.35", "42"), dates and names as printed."""
    return format_number(Fraction(result), 2) if kind == "number" else result.strip()


def parse_number(answer: str) -> float | None:
    """The number in an answer such as "1,234.5" or "60.35 km"; None when it holds no single number."""
    match = _NUMBER_ANSWER.fullmatch(answer.strip())
    if match is None:
        return None
    try:
        return float(match.group(1).replace(",", ""))
    except ValueError:
        return None


def score_answer(answer: str, result: str, kind: str) -> float:
    """1.0 when ``answer`` gives the exact tool ``result`` (numbers within ``NUMBER_TOLERANCE``), else 0.0."""
    if kind == "number":
        number = parse_number(answer)
        exact = float(result)
        return float(number is not None and abs(number - exact) <= NUMBER_TOLERANCE + 1e-9 * max(1.0, abs(exact)))
    if kind == "date":
        try:
            return float(dt.date.fromisoformat(answer.strip()) == dt.date.fromisoformat(result))
        except ValueError:
            return 0.0
    return float(answer.strip().rstrip(".").casefold() == result.strip().casefold())
