"""``query_table``: one read-only SELECT over the task's table, in a fresh in-memory SQLite database.

Only SELECT (or WITH ... SELECT) runs: an authorizer allows reads and pure functions only, the
database is ``query_only``, a progress handler stops runaway queries (recursive CTEs), strings and
blobs are capped, and at most ``MAX_ROWS`` rows come back. Functions whose results change between
runs (``random()``, ``'now'``) are refused so that the same call always gives the same answer.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from turngym.envs.tooluse.units import format_number
from turngym.tools.core import Hidden, ToolError, tool

MAX_ROWS = 50
MAX_SQL_CHARS = 2000
MAX_VM_STEPS = 2_000_000  # SQLite virtual-machine instructions per query
MAX_VALUE_BYTES = 100_000
_STEPS_PER_CHECK = 1000
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
_UNSTABLE_FUNCTIONS = {"random", "randomblob", "changes", "last_insert_rowid", "total_changes", "sqlite_version"}
_UNSTABLE_TEXT = re.compile(r"'\s*now\s*'|\bcurrent_(date|time|timestamp)\b", re.IGNORECASE)


def _authorizer(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _UNSTABLE_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def open_table(table: dict[str, Any]) -> sqlite3.Connection:
    """An in-memory database holding ``table`` (``{"name", "columns": [[name, type]], "rows"}``), read-only."""
    connection = sqlite3.connect(":memory:")
    columns = ", ".join(f'"{name}" {sql_type}' for name, sql_type in table["columns"])
    connection.execute(f'CREATE TABLE "{table["name"]}" ({columns})')
    marks = ", ".join("?" for _ in table["columns"])
    connection.executemany(f'INSERT INTO "{table["name"]}" VALUES ({marks})', table["rows"])
    connection.commit()
    connection.execute("PRAGMA query_only = ON")
    connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    connection.set_authorizer(_authorizer)
    return connection


def run_select(table: dict[str, Any], sql: str, connection: sqlite3.Connection | None = None) -> list[dict[str, Any]]:
    """The rows of one read-only SELECT as dicts; a bad query raises ValueError, a runaway one ToolError.
    ``connection``: a database ``open_table`` made for ``table``, kept open (default: a fresh one)."""
    if len(sql) > MAX_SQL_CHARS:
        raise ValueError(f"the query is {len(sql)} characters; the limit is {MAX_SQL_CHARS}")
    if not re.match(r"\s*(select|with)\b", sql, re.IGNORECASE):
        raise ValueError(f"only SELECT queries are allowed; got {sql.strip()[:40]!r}")
    if _UNSTABLE_TEXT.search(sql):
        raise ValueError("'now' and CURRENT_DATE/TIME/TIMESTAMP are not allowed: the table holds all the data")
    own = connection is None
    connection = open_table(table) if connection is None else connection
    steps = [0]

    def progress() -> int:
        steps[0] += _STEPS_PER_CHECK
        return int(steps[0] > MAX_VM_STEPS)

    connection.set_progress_handler(progress, _STEPS_PER_CHECK)
    try:
        cursor = connection.execute(sql)
        names = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchmany(MAX_ROWS + 1)
    except sqlite3.OperationalError as exc:
        if steps[0] > MAX_VM_STEPS:
            raise ToolError(f"query_table: the query ran past {MAX_VM_STEPS} SQLite steps and was stopped", "timeout") from None
        raise ValueError(f"SQL error: {exc}") from None
    except (sqlite3.DatabaseError, sqlite3.Warning) as exc:  # e.g. "not authorized", two statements
        raise ValueError(f"SQL error: {exc}") from None
    finally:
        connection.set_progress_handler(None, 0)
        if own:
            connection.close()
    if len(rows) > MAX_ROWS:
        raise ValueError(f"the query returned more than {MAX_ROWS} rows; add a WHERE clause, an aggregate or LIMIT")
    return [dict(zip(names, row, strict=True)) for row in rows]


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        text = format_number(value)
        return int(text) if "." not in text else float(text)
    if isinstance(value, bytes):
        return value.hex()
    return value


def format_rows(rows: list[dict[str, Any]]) -> str:
    """One value alone as plain text ("4", "2026-03-14", "Ada Berg"); else JSON rows."""
    if len(rows) == 1 and len(rows[0]) == 1:
        value = _cell(next(iter(rows[0].values())))
        return "NULL" if value is None else str(value)
    return json.dumps([{k: _cell(v) for k, v in row.items()} for row in rows], ensure_ascii=False)


@tool
def query_table(sql: str, table: Hidden[dict]) -> str:
    """Run one read-only SQLite SELECT on the task's table.

    A single value comes back as plain text (e.g. "4"); several as JSON rows, e.g.
    [{"name": "Ada Berg", "salary_usd": 5200}]. At most 50 rows.

    Args:
        sql: One SELECT statement, e.g. "SELECT COUNT(*) FROM products WHERE price_usd > 20".
    """
    return format_rows(run_select(table, sql))
