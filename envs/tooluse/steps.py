"""The steps a task chains: starts (a table query or a value given in the prompt) and steps that
turn the last result into the next one through one tool (two for ``calc_side``).

Each step appends its reference call(s) and one sentence to the ``Chain`` and returns the new
``Value``; ``accepts`` says whether it can follow a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from turngym.envs.tooluse.chain import Chain, Reject, Value
from turngym.envs.tooluse.python_tasks import COMPUTATIONS
from turngym.envs.tooluse.tables import Column
from turngym.envs.tooluse.units import BY_SYMBOL, UNITS, convert, format_number

DIMENSION_NOUNS = {"length": "distance", "mass": "weight", "temperature": "temperature", "time": "duration", "volume": "volume"}
_NUMERIC_KINDS = ("int", "number", "quantity", "money")


@dataclass(frozen=True)
class Step:
    name: str
    tool: str
    cost: int
    accepts: Callable[[Chain, Value | None], bool]
    apply: Callable[[Chain, Value | None], Value]
    terminal: bool = False


# ---- table conditions ----------------------------------------------------------------------------
def _unit_words(column: Column) -> str:
    if column.kind == "quantity":
        return " " + BY_SYMBOL[column.unit].plural
    return " US dollars" if column.kind == "money" else ""


def _category_phrase(chain: Chain, value: str) -> str:
    return {"employees": f"in the {value} department", "products": f"in the {value} category"}.get(chain.spec.name, f"in {value}")


def _column_values(chain: Chain, column: Column) -> list:
    index = [c.name for c in chain.spec.columns].index(column.name)
    return [row[index] for row in chain.table["rows"]]


def _condition(chain: Chain, allow_none: bool = False) -> tuple[str, str]:
    """A WHERE clause and its English (" in the Sales department"), or ("", "") when ``allow_none`` drew none."""
    kinds = ["category", "threshold", "date", "both"] + (["none"] if allow_none else [])
    kind = chain.pick(kinds)
    if kind == "none":
        return "", ""
    parts: list[tuple[str, str]] = []
    if kind in ("category", "both"):
        column = chain.spec.of_kind("category")[0]
        value = chain.pick(sorted(set(_column_values(chain, column))))
        parts.append((f"{column.name} = '{value}'", _category_phrase(chain, value)))
    if kind in ("threshold", "both"):
        column = chain.pick(chain.spec.of_kind("money", "quantity", "count"))
        values = sorted(set(_column_values(chain, column)))
        if len(values) < 2:
            raise Reject(f"{column.name} has one value")
        i = int(chain.rng.integers(1, len(values)))
        threshold = format_number((Fraction(repr(values[i - 1])) + Fraction(repr(values[i]))) / 2, column.decimals + 1)
        parts.append((f"{column.name} > {threshold}", f"with a {column.noun} above {threshold}{_unit_words(column)}"))
    if kind == "date":
        column = chain.spec.of_kind("date")[0]
        ordinals = sorted({dt.date.fromisoformat(v).toordinal() for v in _column_values(chain, column)})
        i = int(chain.rng.integers(1, len(ordinals)))
        day = dt.date.fromordinal((ordinals[i - 1] + ordinals[i]) // 2).isoformat()
        parts.append((f"{column.name} > '{day}'", f"with a {column.noun} after {day}"))
    return " WHERE " + " AND ".join(p[0] for p in parts), " " + " and ".join(p[1] for p in parts)


def _value_of(column: Column, text: str, ref: str, call: int) -> Value:
    kind = {"count": "int", "money": "money", "quantity": "quantity", "date": "date"}[column.kind]
    return Value(kind, text, ref, unit=column.unit, noun=column.noun, call=call)


# ---- starts ----------------------------------------------------------------------------------------
def _count(chain: Chain, sql: str, after: list[int]) -> tuple[str, int]:
    """A COUNT(*) query that must match some rows but not all (else it tells nothing)."""
    output, call = chain.call("query_table", {"sql": sql}, after)
    if output in ("0", str(len(chain.table["rows"]))):
        raise Reject(f"{sql} matches {output} rows")
    return output, call


def count_rows(chain: Chain, _: Value | None) -> Value:
    where, english = _condition(chain)
    output, call = _count(chain, f"SELECT COUNT(*) FROM {chain.spec.name}{where}", [])
    chain.sentences.append(f"Count the {chain.spec.plural}{english}.")
    return Value("int", output, "that count", noun="count", call=call)


def aggregate(chain: Chain, _: Value | None) -> Value:
    column = chain.pick(chain.spec.of_kind("money", "quantity", "count"))
    functions = ["MAX", "MIN"] + (["SUM"] if column.unit != "C" else [])
    function = chain.pick(functions)
    where, english = _condition(chain, allow_none=True)
    output, call = chain.call("query_table", {"sql": f"SELECT {function}({column.name}) FROM {chain.spec.name}{where}"}, [])
    if output == "NULL":
        raise Reject("the aggregate is empty")
    adjective = {"MAX": "highest", "MIN": "lowest", "SUM": "total"}[function]
    chain.sentences.append(f"Find the {adjective} {column.noun} among the {chain.spec.plural}{english}.")
    return _value_of(column, output, f"that {column.noun}", call)


def lookup(chain: Chain, _: Value | None) -> Value:
    column = chain.pick(chain.spec.of_kind("money", "quantity", "count", "date"))
    name = chain.pick(chain.table["rows"])[0]
    sql = f"SELECT {column.name} FROM {chain.spec.name} WHERE name = '{name}'"
    output, call = chain.call("query_table", {"sql": sql}, [])
    chain.sentences.append(f"Look up the {column.noun} of the {chain.spec.singular} {name}.")
    return _value_of(column, output, f"that {column.noun}", call)


def given_quantity(chain: Chain, _: Value | None) -> Value:
    """A quantity stated in the prompt, often in another unit of a table column's dimension."""
    columns = chain.spec.of_kind("quantity")
    if chain.rng.random() < 0.7:
        column = chain.pick(columns)
        dimension = BY_SYMBOL[column.unit].dimension
        unit = chain.pick([u for u in UNITS if u.dimension == dimension])
        low, high = (convert(v, column.unit, unit.symbol) for v in (column.low, column.high))
        low, high = min(low, high), max(low, high)
        if high > 100_000 or high < 1:
            raise Reject(f"{column.name} in {unit.symbol} is an awkward size")
        value = Fraction(int(chain.rng.integers(int(low * 10), int(high * 10) + 1)), 10)
    else:
        dimension = chain.pick(sorted(DIMENSION_NOUNS))
        unit = chain.pick([u for u in UNITS if u.dimension == dimension])
        integral = dimension == "time" or chain.rng.random() < 0.5
        value = Fraction(int(chain.rng.integers(1, 60))) if integral else Fraction(int(chain.rng.integers(10, 5000)), 10)
    text = format_number(value, 1)
    words = unit.singular if text == "1" else unit.plural
    return Value("quantity", text, f"{text} {words}", unit=unit.symbol, noun=DIMENSION_NOUNS[dimension])


def given_date(chain: Chain, _: Value | None) -> Value:
    day = dt.date(2020, 1, 1) + dt.timedelta(days=int(chain.rng.integers(0, 3650)))
    return Value("date", day.isoformat(), day.isoformat(), noun="date")


# ---- steps on a value --------------------------------------------------------------------------------
def convert_step(chain: Chain, cur: Value | None) -> Value:
    dimension = BY_SYMBOL[cur.unit].dimension
    targets = [u.symbol for u in UNITS if u.dimension == dimension and u.symbol != cur.unit]
    table_units = [c.unit for c in chain.spec.of_kind("quantity") if c.unit in targets]
    target = chain.pick(table_units) if table_units and chain.rng.random() < 0.5 else chain.pick(targets)
    arguments = {"value": cur.number, "from_unit": cur.unit, "to_unit": target}
    output, call = chain.call("convert_units", arguments, cur.after)
    if dimension != "temperature" and not 0.1 <= abs(float(output)) <= 1e7:
        raise Reject(f"{output} {target} is an awkward size")
    source = "" if cur.call is None else f" from {BY_SYMBOL[cur.unit].plural}"
    chain.sentences.append(f"Convert {cur.ref}{source} to {BY_SYMBOL[target].plural}.")
    return Value("quantity", output, f"that {cur.noun}", unit=target, noun=cur.noun, call=call)


def _arithmetic(chain: Chain, cur: Value) -> tuple[str, int]:
    """An operation and operand that keep the value positive and meaningful."""
    op = chain.pick(["*", "+", "-", "/"] if cur.kind != "int" else ["*", "+", "-", "*", "+"])
    if op == "-" and cur.number <= 2:
        op = "+"
    if op in "*/":
        return op, int(chain.rng.integers(2, 13))
    high = min(100, int(cur.number) - 1) if op == "-" else 100
    return op, int(chain.rng.integers(1, high + 1))


_VERBS = {"*": "Multiply {ref} by {x}.", "+": "Add {x} to {ref}.", "-": "Subtract {x} from {ref}.", "/": "Divide {ref} by {x}."}


def _after_arithmetic(cur: Value, op: str, output: str, call: int) -> Value:
    kind = "number" if cur.kind == "int" and op == "/" else cur.kind
    return Value(kind, output, "the result", unit=cur.unit, noun=cur.noun, call=call)


def calc_const(chain: Chain, cur: Value | None) -> Value:
    op, operand = _arithmetic(chain, cur)
    output, call = chain.call("calculator", {"expression": f"{cur.text} {op} {operand}"}, cur.after)
    chain.sentences.append(_VERBS[op].format(ref=cur.ref, x=operand))
    return _after_arithmetic(cur, op, output, call)


def calc_side(chain: Chain, cur: Value | None) -> Value:
    """Combine the value with a count that does not depend on it (its query may come first)."""
    where, english = _condition(chain)
    count, side = _count(chain, f"SELECT COUNT(*) FROM {chain.spec.name}{where}", [])
    ops = ["*"] if cur.kind in ("quantity", "money") else ["*", "+"] + (["-"] if cur.number > int(count) else [])
    op = chain.pick(ops)
    output, call = chain.call("calculator", {"expression": f"{cur.text} {op} {count}"}, [*cur.after, side])
    chain.sentences.append(_VERBS[op].format(ref=cur.ref, x=f"the number of {chain.spec.plural}{english}"))
    return _after_arithmetic(cur, op, output, call)


def _comparable_column(chain: Chain, cur: Value) -> Column | None:
    """A column of the value's kind and unit whose values lie on both sides of it (a count then tells something)."""
    for column in chain.spec.columns:
        same = (
            (cur.kind == "quantity" and column.kind == "quantity" and column.unit == cur.unit)
            or (cur.kind, column.kind) in (("money", "money"), ("date", "date"))
            or (cur.kind == "int" and column.kind == "count")
        )
        if not same:
            continue
        key = dt.date.fromisoformat if cur.kind == "date" else float
        values = [key(v) for v in _column_values(chain, column)]
        if min(values) < key(cur.text) < max(values):
            return column
    return None


def count_beyond(chain: Chain, cur: Value | None) -> Value:
    column = _comparable_column(chain, cur)
    bound = f"'{cur.text}'" if cur.kind == "date" else cur.text
    word = "after" if cur.kind == "date" else "above"
    sql = f"SELECT COUNT(*) FROM {chain.spec.name} WHERE {column.name} > {bound}"
    output, call = _count(chain, sql, cur.after)
    chain.sentences.append(f"Count the {chain.spec.plural} with a {column.noun} {word} {cur.ref}.")
    return Value("int", output, "that count", noun="count", call=call)


def shift_date(chain: Chain, cur: Value | None) -> Value:
    days = int(chain.rng.integers(1, 401)) * (1 if chain.rng.random() < 0.7 else -1)
    output, call = chain.call("date_add", {"date": cur.text, "days": days}, cur.after)
    chain.sentences.append(f"Find the date {abs(days)} days {'after' if days > 0 else 'before'} {cur.ref}.")
    return Value("date", output, "that date", noun="date", call=call)


def arrival_date(chain: Chain, cur: Value | None) -> Value:
    start = (dt.date(2024, 1, 1) + dt.timedelta(days=int(chain.rng.integers(0, 1500)))).isoformat()
    output, call = chain.call("date_add", {"date": start, "days": int(cur.text)}, cur.after)
    days = f"as many days as {cur.ref}" if cur.call is not None and cur.kind == "int" else cur.ref
    chain.sentences.append(f"A shipment leaves on {start} and travels for {days}; find the date it arrives.")
    return Value("date", output, "that date", noun="date", call=call)


def days_until(chain: Chain, cur: Value | None) -> Value:
    other = (dt.date.fromisoformat(cur.text) + dt.timedelta(days=int(chain.rng.integers(10, 900)))).isoformat()
    forward = chain.rng.random() < 0.5
    start, end = (cur.text, other) if forward else (other, cur.text)
    output, call = chain.call("days_between", {"start": start, "end": end}, cur.after)
    sentence = f"from {cur.ref} to {other}" if forward else f"from {other} back to {cur.ref} (a negative number)"
    chain.sentences.append(f"Count the days {sentence}.")
    return Value("int", output, "that number of days", noun="number of days", call=call)


def weekday_step(chain: Chain, cur: Value | None) -> Value:
    output, call = chain.call("weekday", {"date": cur.text}, cur.after)
    chain.sentences.append(f"On which day of the week is {cur.ref}?")
    return Value("text", output, "that day", noun="day of the week", call=call)


def python_step(chain: Chain, cur: Value | None) -> Value:
    n = int(cur.text)
    computation = chain.pick([c for c in COMPUTATIONS if c.low <= n <= c.high])
    output, call = chain.call("python", {"code": computation.code.format(n=n)}, cur.after, output=str(computation.fn(n)))
    chain.sentences.append(f"Let N be {cur.ref}. Use Python to compute {computation.phrase.format(n='N')}.")
    return Value("int", output, "that number", noun="number", call=call)


def _computed(cur: Value | None) -> bool:
    return cur is not None and cur.call is not None


def _python_ready(chain: Chain, cur: Value | None) -> bool:
    return chain.python and _computed(cur) and cur.kind == "int" and any(c.low <= int(cur.text) <= c.high for c in COMPUTATIONS)


def _days(cur: Value | None) -> bool:
    return (
        cur is not None
        and cur.is_integer
        and 0 < int(cur.text) <= 5000
        and ((cur.kind == "int" and cur.call is not None) or (cur.kind == "quantity" and cur.unit == "day"))
    )


STARTS: tuple[Step, ...] = (
    Step("count_rows", "query_table", 1, lambda c, v: True, count_rows),
    Step("aggregate", "query_table", 1, lambda c, v: True, aggregate),
    Step("lookup", "query_table", 1, lambda c, v: True, lookup),
    Step("given_quantity", "", 0, lambda c, v: True, given_quantity),
    Step("given_date", "", 0, lambda c, v: True, given_date),
)
STEPS: tuple[Step, ...] = (
    Step("convert", "convert_units", 1, lambda c, v: v is not None and v.kind == "quantity", convert_step),
    Step("calc_const", "calculator", 1, lambda c, v: _computed(v) and v.kind in _NUMERIC_KINDS, calc_const),
    Step("calc_side", "calculator", 2, lambda c, v: _computed(v) and v.kind in _NUMERIC_KINDS, calc_side),
    Step("count_beyond", "query_table", 1, lambda c, v: v is not None and _comparable_column(c, v) is not None, count_beyond),
    Step("shift_date", "date_add", 1, lambda c, v: v is not None and v.kind == "date", shift_date),
    Step("arrival_date", "date_add", 1, lambda c, v: _days(v), arrival_date),
    Step("days_until", "days_between", 1, lambda c, v: v is not None and v.kind == "date", days_until),
    Step("weekday", "weekday", 1, lambda c, v: v is not None and v.kind == "date", weekday_step, terminal=True),
    Step("python", "python", 1, _python_ready, python_step),
)
