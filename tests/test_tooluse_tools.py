"""ToolUse's tools: unit conversion, date arithmetic and the read-only SQL table query."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from turngym.envs.tooluse import convert_units, date_add, days_between, query_table, weekday
from turngym.envs.tooluse.tables import PRODUCTS, TABLES, describe_table, make_table
from turngym.envs.tooluse.units import UNITS, convert, find_unit, format_number


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (37.5, "mi", "km", "60.3504"),
        (1, "in", "cm", "2.54"),
        (1, "lb", "g", "453.59237"),
        (100, "C", "F", "212"),
        (-40, "F", "C", "-40"),
        (0, "K", "C", "-273.15"),
        (3, "week", "day", "21"),
        (90, "min", "h", "1.5"),
        (1, "gal", "L", "3.785412"),
        (2, "cups", "fl oz", "16"),
        (1, "m3", "L", "1000"),
        (0.1, "kilometres", "m", "100"),
    ],
)
def test_convert_units_uses_exact_factors_and_aliases(value, source, target, expected):
    result = convert_units.run({"value": value, "from_unit": source, "to_unit": target})
    assert result.ok and result.output == expected


def test_every_unit_round_trips_exactly_through_its_base_unit():
    for unit in UNITS:
        base = next(u for u in UNITS if u.dimension == unit.dimension and u.factor == 1 and u.offset == 0)
        assert convert(convert(Fraction(7, 3), unit.symbol, base.symbol), base.symbol, unit.symbol) == Fraction(7, 3)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"value": 1, "from_unit": "km", "to_unit": "kg"}, "cannot convert length (km) to mass (kg)"),
        ({"value": 1, "from_unit": "furlong", "to_unit": "m"}, "unknown unit 'furlong'; expected one of m, km"),
        ({"value": 1e300, "from_unit": "m", "to_unit": "km"}, "at most 1e15"),
    ],
)
def test_convert_units_explains_bad_units(arguments, message):
    result = convert_units.run(arguments)
    assert not result.ok and result.error_kind == "raised" and message in result.output


def test_convert_units_rejects_a_string_value_as_bad_arguments():
    result = convert_units.run({"value": "3", "from_unit": "m", "to_unit": "km"})
    assert result.error_kind == "arguments" and "value" in result.output


def test_unit_names_are_case_and_space_insensitive():
    assert find_unit("  Degrees   celsius ").symbol == "C"
    assert find_unit("ML").symbol == "mL" and find_unit("cubic meters").symbol == "m3"


def test_format_number_drops_trailing_zeros():
    assert [format_number(x) for x in (Fraction(21), Fraction(1, 3), 2.50, -0.0000001)] == ["21", "0.333333", "2.5", "0"]
    assert format_number(Fraction(60350399, 1000000), 2) == "60.35"


def test_date_tools():
    assert date_add.run({"date": "2026-03-14", "days": 19}).output == "2026-04-02"
    assert date_add.run({"date": "2024-03-01", "days": -1}).output == "2024-02-29"
    assert days_between.run({"start": "2026-03-14", "end": "2026-04-02"}).output == "19"
    assert days_between.run({"start": "2026-04-02", "end": "2026-03-14"}).output == "-19"
    assert weekday.run({"date": "2026-03-14"}).output == "Saturday"


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        (date_add, {"date": "14/03/2026", "days": 1}, "date: expected an ISO date YYYY-MM-DD, got '14/03/2026'"),
        (date_add, {"date": "2026-02-30", "days": 1}, "day is out of range for month"),
        (date_add, {"date": "9999-12-31", "days": 1}, "outside years 1..9999"),
        (date_add, {"date": "2026-01-01", "days": 10**9}, "days: expected at most 1000000"),
        (days_between, {"start": "2026-01-01", "end": "soon"}, "end: expected an ISO date"),
        (weekday, {"date": ""}, "expected an ISO date"),
    ],
)
def test_date_tools_explain_bad_input(tool, arguments, message):
    result = tool.run(arguments)
    assert not result.ok and message in result.output


@pytest.fixture
def products():
    return make_table(np.random.default_rng(0), PRODUCTS, 12)


def _query(table, sql):
    return query_table.run({"sql": sql}, {"table": table})


def test_query_table_returns_a_single_value_plainly_and_rows_as_json(products):
    rows = products["rows"]
    count = sum(r[2] > 50 for r in rows)
    assert _query(products, "SELECT COUNT(*) FROM products WHERE price_usd > 50").output == str(count)
    listed = json.loads(_query(products, "SELECT name, stock FROM products ORDER BY name LIMIT 3").output)
    assert listed == [{"name": r[0], "stock": r[5]} for r in sorted(rows)[:3]]
    assert _query(products, "SELECT name FROM products WHERE 0").output == "[]"


def test_query_table_rounds_float_noise(products):
    total = _query(products, "SELECT SUM(weight_kg) FROM products").output
    assert total == format_number(sum(Fraction(repr(r[3])) for r in products["rows"]))


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM products", "only SELECT queries are allowed"),
        ("WITH x AS (SELECT 1) DELETE FROM products", "not authorized"),
        ("SELECT 1; DROP TABLE products", "one statement at a time"),
        ("SELECT random()", "not authorized to use function: random"),
        ("SELECT date('now')", "'now' and CURRENT_DATE"),
        ("SELECT nope FROM products", "no such column: nope"),
        ("SELECT zeroblob(1000000000)", "too big"),
        ("SELECT * FROM products, products AS b", "more than 50 rows"),
        ("SELECT " + "1 + " * 1000 + "1", "the limit is 2000"),
    ],
)
def test_query_table_refuses_writes_and_unstable_or_huge_queries(products, sql, message):
    result = _query(products, sql)
    assert not result.ok and message in result.output


def test_query_table_stops_runaway_queries_as_a_timeout(products):
    result = _query(products, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT MAX(x) FROM c")
    assert result.error_kind == "timeout" and "stopped" in result.output


def test_query_table_never_changes_the_table(products):
    before = json.dumps(products)
    for sql in ("UPDATE products SET stock = 0", "INSERT INTO products VALUES (1)", "SELECT * FROM products"):
        _query(products, sql)
    assert json.dumps(products) == before


def test_generated_tables_are_seeded_with_unique_names():
    for name, spec in TABLES.items():
        a, b = (make_table(np.random.default_rng(5), spec, 20) for _ in range(2))
        assert a == b and a["name"] == name
        assert len({r[0] for r in a["rows"]}) == 20
        assert describe_table(spec, 20).startswith(f"Table `{name}` (20 rows")
