"""Tools: schema from type hints and docstrings, strict validation, failures as results, pickling."""

from __future__ import annotations

import asyncio
import enum
import json
import pickle
from typing import Literal, Optional

import cloudpickle
import pytest

from turngym.tools.core import Hidden, Tool, ToolResult, parse_google_docstring, tool


@tool
def book(city: str, nights: int, kind: Literal["hotel", "hostel"] = "hotel", tags: list[int] | None = None) -> str:
    """Book a room somewhere.

    Looks for the cheapest room.

    Args:
        city: The city to stay in,
            spelled in English.
        nights (int): How many nights.
        kind: What to book.
        tags: Numeric tags.

    Returns:
        A booking reference.
    """
    return f"{city}:{nights}:{kind}:{tags}"


@tool
def div(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


@tool
def items(n: int) -> dict:
    """Return a dict."""
    return {"n": n, "list": [1, 2]}


@tool
def secret(query: str, table: Hidden[dict], state: Hidden[list]) -> str:
    """Look something up in a table the model never sees.

    Args:
        query: The key.
    """
    state.append(query)
    return str(table[query])


@tool(name="renamed", description="A renamed tool.")
def original(x: int) -> int:
    return x


def plain_function(x: int) -> int:
    """A plain module-level function."""
    return x * 2


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@tool
def paint(color: Color, corner: tuple[int, int]) -> str:
    """Paint a corner."""
    return f"{color.value} {corner}"


def properties(t):
    return t.schema["function"]["parameters"]["properties"]


# ---- schema ---------------------------------------------------------------------------------------


def test_schema_shape_and_description():
    schema = book.schema
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "book"
    assert schema["function"]["description"] == "Book a room somewhere."
    params = schema["function"]["parameters"]
    assert params["type"] == "object"
    assert params["additionalProperties"] is False
    assert "title" not in json.dumps(params)


def test_schema_argument_descriptions_from_google_docstring():
    props = properties(book)
    assert props["city"]["description"] == "The city to stay in, spelled in English."
    assert props["nights"]["description"] == "How many nights."
    assert props["kind"]["description"] == "What to book."
    assert props["tags"]["description"] == "Numeric tags."


def test_schema_required_versus_default():
    params = book.schema["function"]["parameters"]
    assert params["required"] == ["city", "nights"]
    assert params["properties"]["kind"]["default"] == "hotel"
    assert params["properties"]["tags"]["default"] is None


def test_schema_types():
    props = properties(book)
    assert props["city"]["type"] == "string"
    assert props["nights"]["type"] == "integer"
    assert props["kind"]["enum"] == ["hotel", "hostel"]
    assert props["kind"]["type"] == "string"
    assert props["tags"]["anyOf"] == [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]
    assert properties(div)["a"]["type"] == "number"


def test_optional_without_default_is_required_but_nullable():
    @tool
    def f(x: Optional[int]) -> str:  # noqa: UP045 -- Optional spelled the old way on purpose
        """F."""
        return str(x)

    params = f.schema["function"]["parameters"]
    assert params["required"] == ["x"]
    assert params["properties"]["x"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert f.run({"x": None}).output == "None"
    assert f.run({}).error_kind == "arguments"


def test_description_falls_back_to_the_name_and_can_be_overridden():
    @tool
    def undocumented(x: int) -> int:
        return x

    assert undocumented.description == "undocumented"
    assert original.name == "renamed"
    assert original.schema["function"]["name"] == "renamed"
    assert original.description == "A renamed tool."


def test_schema_returns_fresh_dicts():
    first = book.schema
    first["function"]["parameters"]["properties"]["city"]["type"] = "integer"
    first["function"]["name"] = "x"
    assert book.schema["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assert book.schema["function"]["name"] == "book"
    assert book.schema is not book.schema


def test_schema_is_json():
    for t in [book, div, secret, paint, original]:
        assert json.loads(json.dumps(t.schema)) == t.schema


def test_var_args_are_rejected():
    def f(*args: int) -> int:
        return 0

    with pytest.raises(TypeError, match=r"\*args/\*\*kwargs are not supported"):
        Tool(f)


@pytest.mark.parametrize("name", ["json", "schema", "copy", "model_name", "model_config", "_private", "validate"])
def test_argument_names_that_clash_with_pydantic(name):
    namespace: dict = {}
    exec(f"def f({name}: str) -> str:\n    '''F.'''\n    return {name}", namespace)
    t = Tool(namespace["f"])
    assert list(t.parameters["properties"]) == [name]
    assert t.parameters["required"] == [name]
    assert t.run({name: "v"}) == ToolResult(True, "v")
    assert t.run({name: 1}).error_kind == "arguments"


@tool
def wiki_summary(title: str, sentences: int = 2) -> str:
    """Look up the summary of a Wikipedia article.

    Args:
        title: The article's title, e.g. "Ada Lovelace".
        sentences: How many sentences to return.
    """
    return f"{title}: {sentences} sentences"


def test_a_parameter_named_title_keeps_its_schema():
    params = wiki_summary.parameters
    assert list(params["properties"]) == ["title", "sentences"]
    assert params["required"] == ["title"]
    assert params["properties"]["title"] == {"description": 'The article\'s title, e.g. "Ada Lovelace".', "type": "string"}
    assert "title" not in params and "title" not in params["properties"]["sentences"]  # pydantic's annotations are gone


def test_a_parameter_named_title_is_offered_and_called_through_the_env():
    import turngym

    env = turngym.make("turngym/ToolCalc-v0", tools=[wiki_summary])
    obs, _ = env.reset(seed=0)
    schemas = [json.loads(line) for line in obs[0]["content"].splitlines() if line.startswith('{"type": "function"')]
    offered = {s["function"]["name"]: s["function"]["parameters"] for s in schemas}["wiki_summary"]
    assert offered["properties"]["title"]["type"] == "string" and offered["required"] == ["title"]
    action = '<tool_call>{"name": "wiki_summary", "arguments": {"title": "Ada Lovelace"}}</tool_call>'
    obs, _, _, _, info = env.step(action)
    assert obs[0]["content"] == "Ada Lovelace: 2 sentences"
    assert info["tool_calls"][0]["error_kind"] is None


# ---- docstrings -----------------------------------------------------------------------------------


def test_parse_google_docstring():
    doc = """Summary line
    continued.

    More detail that is not the description.

    Args:
        a: First.
        b (list[int]): Second,
            on two lines.
        c: Third: with a colon.

    Raises:
        ValueError: never an argument.
    """
    import inspect

    description, args = parse_google_docstring(inspect.cleandoc(doc))
    assert description == "Summary line continued."
    assert args == {"a": "First.", "b": "Second, on two lines.", "c": "Third: with a colon."}


def test_parse_google_docstring_args_section_ends_at_a_dedent():
    description, args = parse_google_docstring("Add.\n\nArgs:\n    a: The first.\n    b: The second.\n\nExtra notes.\n")
    assert description == "Add."
    assert args == {"a": "The first.", "b": "The second."}


def test_parse_google_docstring_without_args():
    assert parse_google_docstring("") == ("", {})
    assert parse_google_docstring("Just a line.") == ("Just a line.", {})


# ---- validation -----------------------------------------------------------------------------------


def test_valid_call():
    assert book.run({"city": "Oslo", "nights": 2}) == ToolResult(True, "Oslo:2:hotel:None", None)
    assert book.run({"city": "Oslo", "nights": 2, "kind": "hostel", "tags": [1, 2]}).output == "Oslo:2:hostel:[1, 2]"


def test_string_for_int_is_rejected_naming_argument_and_type():
    result = book.run({"city": "Oslo", "nights": "3"})
    assert result.ok is False
    assert result.error_kind == "arguments"
    assert result.output.startswith("invalid arguments for book: nights:")
    assert 'got str "3"' in result.output


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        ({"city": "Oslo", "nights": 2.5}, ["nights", "got float 2.5"]),
        ({"city": "Oslo", "nights": 2.0}, ["nights", "got float 2.0"]),
        ({"city": "Oslo", "nights": True}, ["nights", "got bool true"]),
        ({"city": 5, "nights": 2}, ["city", "got int 5"]),
        ({"city": "Oslo", "nights": 2, "kind": "tent"}, ["kind", "'hotel' or 'hostel'", 'got str "tent"']),
        ({"city": "Oslo", "nights": 2, "tags": ["1"]}, ["tags.0", 'got str "1"']),
        ({"city": "Oslo", "nights": 2, "tags": 1}, ["tags", "got int 1"]),
        ({"city": "Oslo", "nights": 2, "color": "red"}, ["color: Extra inputs are not permitted", 'got str "red"']),
        ({"nights": 2}, ["city: Field required"]),
        ({}, ["city: Field required", "nights: Field required"]),
    ],
)
def test_strict_validation(arguments, fragments):
    result = book.run(arguments)
    assert result.ok is False
    assert result.error_kind == "arguments"
    for fragment in fragments:
        assert fragment in result.output


def test_int_is_fine_for_float():
    assert div.run({"a": 1, "b": 4}).output == "0.25"


def test_enum_and_tuple_arguments_accept_their_json_forms():
    assert paint.schema["function"]["parameters"]["required"] == ["color", "corner"]
    assert paint.run({"color": "blue", "corner": [1, 2]}) == ToolResult(True, "blue (1, 2)")
    assert paint.run({"color": "green", "corner": [1, 2]}).error_kind == "arguments"
    assert paint.run({"color": "red", "corner": [1, 2, 3]}).error_kind == "arguments"


def test_arguments_json_cannot_hold_still_validate():
    assert book.run({"city": "a\ud800", "nights": 1}).ok  # a lone surrogate from "\\ud800" in JSON

    @tool
    def bits(n: int) -> str:
        """Bit length."""
        return str(n.bit_length())

    assert bits.run({"n": 2**20000}) == ToolResult(True, "20001")
    assert book.run({"city": object(), "nights": 1}).error_kind == "arguments"


# ---- running --------------------------------------------------------------------------------------


def test_exception_inside_is_a_raised_result():
    result = div.run({"a": 1, "b": 0})
    assert result == ToolResult(False, "div raised ZeroDivisionError: float division by zero", "raised")


def test_non_string_results_are_json_encoded():
    assert items.run({"n": 3}) == ToolResult(True, '{"n": 3, "list": [1, 2]}')
    assert div.run({"a": 1, "b": 2}).output == "0.5"

    @tool
    def nothing() -> None:
        """Returns None."""

    @tool
    def odd() -> object:
        """Returns something JSON cannot hold."""
        return {"when": {1, 2}}

    assert nothing.run({}).output == "null"
    assert odd.run({}).output == '{"when": "{1, 2}"}'


def test_result_that_cannot_be_encoded_is_a_raised_result():
    @tool
    def circular() -> list:
        """Returns a list that holds itself."""
        loop: list = []
        loop.append(loop)
        return loop

    result = circular.run({})
    assert result.ok is False
    assert result.error_kind == "raised"
    assert "Circular reference" in result.output


def test_async_tools():
    @tool
    async def slow_add(a: int, b: int) -> int:
        """Add, asynchronously."""
        await asyncio.sleep(0)
        return a + b

    @tool
    async def fails() -> str:
        """Raise, asynchronously."""
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    assert slow_add.schema["function"]["parameters"]["required"] == ["a", "b"]
    assert slow_add.run({"a": 1, "b": 2}) == ToolResult(True, "3")
    assert fails.run({}) == ToolResult(False, "fails raised RuntimeError: boom", "raised")
    assert slow_add.run({"a": "1", "b": 2}).error_kind == "arguments"


def test_async_tool_called_from_inside_an_event_loop():
    @tool
    async def double(x: int) -> int:
        """Double."""
        await asyncio.sleep(0)
        return 2 * x

    async def main():
        return double.run({"x": 21})

    assert asyncio.run(main()) == ToolResult(True, "42")


def test_hidden_arguments_are_not_in_the_schema_and_are_injected_by_name():
    assert secret.hidden == ("table", "state")
    params = secret.schema["function"]["parameters"]
    assert list(params["properties"]) == ["query"]
    assert params["required"] == ["query"]
    state: list = []
    assert secret.run({"query": "k"}, {"table": {"k": 7}, "state": state, "unused": 0}) == ToolResult(True, "7")
    assert state == ["k"]


def test_hidden_arguments_cannot_be_passed_by_the_model():
    result = secret.run({"query": "k", "table": {"k": 1}}, {"table": {"k": 7}, "state": []})
    assert result.error_kind == "arguments"
    assert "table: Extra inputs are not permitted" in result.output


def test_missing_hidden_argument_raises_a_clear_key_error():
    with pytest.raises(KeyError, match=r"tool 'secret' needs hidden argument 'state'; the env passed \['table'\]"):
        secret.run({"query": "k"}, {"table": {}})
    with pytest.raises(KeyError, match=r"needs hidden argument 'table'; the env passed \[\]"):
        secret.run({"query": "k"})


def test_tool_is_still_callable_directly():
    assert book("Oslo", 1) == "Oslo:1:hotel:None"
    assert secret("k", table={"k": 1}, state=[]) == "1"
    assert repr(book) == "Tool('book')"


# ---- pickling -------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [book, secret, original])
def test_module_level_tools_pickle_by_reference(t):
    assert pickle.loads(pickle.dumps(t)) is t


def test_tool_of_a_module_level_function_pickles_by_function():
    t = Tool(plain_function, name="twice", description="Doubles.")
    copy = pickle.loads(pickle.dumps(t))
    assert copy is not t
    assert (copy.name, copy.description, copy.schema) == (t.name, t.description, t.schema)
    assert copy.run({"x": 4}) == ToolResult(True, "8")


def test_closures_pickle_by_function():
    offset = 10

    @tool
    def shifted(x: int) -> int:
        """Shift x."""
        return x + offset

    copy = cloudpickle.loads(cloudpickle.dumps(shifted))
    assert copy is not shifted
    assert copy.schema == shifted.schema
    assert copy.run({"x": 1}) == ToolResult(True, "11")
    assert copy.run({"x": "1"}).error_kind == "arguments"


def test_builtin_tools_pickle_by_reference():
    from turngym.envs.toolcalc.tools import lookup
    from turngym.tools import calculator

    assert pickle.loads(pickle.dumps(calculator)) is calculator
    assert pickle.loads(pickle.dumps(lookup)) is lookup
