"""Date arithmetic tools over ISO dates: ``date_add``, ``days_between`` and ``weekday``."""

from __future__ import annotations

import datetime as dt
import re

from turngym.tools.core import tool

MAX_DAYS = 1_000_000
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(text: str, what: str = "date") -> dt.date:
    """An ISO date (``YYYY-MM-DD``); anything else raises a ValueError that says what was expected."""
    stripped = text.strip()
    if not _ISO.fullmatch(stripped):
        raise ValueError(f"{what}: expected an ISO date YYYY-MM-DD, got {text!r}")
    try:
        return dt.date.fromisoformat(stripped)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc} in {text!r}") from None


def add_days(date: dt.date, days: int) -> dt.date:
    if abs(days) > MAX_DAYS:
        raise ValueError(f"days: expected at most {MAX_DAYS} in size, got {days}")
    try:
        return date + dt.timedelta(days=days)
    except OverflowError:
        raise ValueError(f"{date.isoformat()} plus {days} days falls outside years 1..9999") from None


@tool
def date_add(date: str, days: int) -> str:
    """The date a number of days after (or, for negative days, before) a date.

    Args:
        date: An ISO date, e.g. "2026-03-14".
        days: Days to add; negative to go back.
    """
    return add_days(parse_date(date), days).isoformat()


@tool
def days_between(start: str, end: str) -> str:
    """The number of days from start to end (negative when end comes first).

    Args:
        start: An ISO date, e.g. "2026-03-14".
        end: An ISO date, e.g. "2026-04-01".
    """
    return str((parse_date(end, "end") - parse_date(start, "start")).days)


@tool
def weekday(date: str) -> str:
    """The day of the week of a date, e.g. "Saturday".

    Args:
        date: An ISO date, e.g. "2026-03-14".
    """
    return WEEKDAYS[parse_date(date).weekday()]
