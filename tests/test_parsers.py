"""Action parsers: Hermes, OpenAI and tag formats, answers, errors, and render() -> parse() round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turngym.envs.parsers import (
    ActionParser,
    HermesParser,
    OpenAIParser,
    ParsedAction,
    TagParser,
    ToolCall,
    make_parser,
    parse_openai_tool_calls,
)
from turngym.tools.core import Hidden, tool


@tool
def search(query: str) -> str:
    """Search the web.

    Args:
        query: What to look for.
    """
    return query


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def fetch(url: str, state: Hidden[dict]) -> str:
    """Fetch a page (one visible string argument, one hidden)."""
    return url


@tool
def count(n: int) -> str:
    """One argument, but not a string."""
    return str(n)


def hermes_call(name, arguments):
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


# ---- Hermes ---------------------------------------------------------------------------------------


def test_hermes_single_call():
    parsed = HermesParser().parse(hermes_call("add", {"a": 1, "b": 2}), turn=3)
    assert parsed.error is None
    assert parsed.answer is None
    assert parsed.tool_calls == (ToolCall("add", {"a": 1, "b": 2}, "call_3_0"),)


def test_hermes_several_calls_keep_order_and_get_distinct_ids():
    text = "Let me look.\n" + hermes_call("search", {"query": "x"}) + "\n" + hermes_call("add", {"a": 1, "b": 2})
    parsed = HermesParser().parse(text, turn=1)
    assert parsed.error is None
    assert [c.name for c in parsed.tool_calls] == ["search", "add"]
    assert [c.id for c in parsed.tool_calls] == ["call_1_0", "call_1_1"]
    assert parsed.text == text


def test_hermes_call_spanning_lines():
    text = '<tool_call>\n{\n  "name": "add",\n  "arguments": {"a": 1, "b": 2}\n}\n</tool_call>'
    assert HermesParser().parse(text).tool_calls[0].arguments == {"a": 1, "b": 2}


def test_hermes_arguments_as_json_string():
    body = json.dumps({"name": "add", "arguments": json.dumps({"a": 1, "b": 2})})
    parsed = HermesParser().parse(f"<tool_call>{body}</tool_call>")
    assert parsed.error is None
    assert parsed.tool_calls[0].arguments == {"a": 1, "b": 2}


@pytest.mark.parametrize("arguments", ["", "  "])
def test_hermes_empty_argument_string_is_no_arguments(arguments):
    body = json.dumps({"name": "now", "arguments": arguments})
    parsed = HermesParser().parse(f"<tool_call>{body}</tool_call>")
    assert parsed.error is None
    assert parsed.tool_calls[0].arguments == {}


def test_hermes_missing_arguments_is_no_arguments():
    parsed = HermesParser().parse('<tool_call>{"name": "now"}</tool_call>')
    assert parsed.error is None
    assert parsed.tool_calls[0].arguments == {}


def test_hermes_argument_string_that_is_not_json():
    body = json.dumps({"name": "add", "arguments": "{a: 1"})
    parsed = HermesParser().parse(f"<tool_call>{body}</tool_call>")
    assert parsed.tool_calls == ()
    assert "not valid JSON" in parsed.error
    assert "add" in parsed.error
    assert '"arguments": {...}' in parsed.error  # says what was expected


def test_hermes_bad_json_says_so_and_what_was_expected():
    parsed = HermesParser().parse("<tool_call>{'name': 'add', arguments: }</tool_call>")
    assert parsed.tool_calls == ()
    assert "tool call 0 is not valid JSON" in parsed.error
    assert 'expected <tool_call>{"name": "<tool>", "arguments": {...}}</tool_call>' in parsed.error


def test_hermes_bad_json_in_second_call_names_it():
    text = hermes_call("add", {"a": 1, "b": 2}) + "<tool_call>{oops</tool_call>"
    parsed = HermesParser().parse(text)
    assert parsed.tool_calls == ()
    assert "tool call 1 is not valid JSON" in parsed.error


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,  # deeper than json's recursion limit
        '{"name": "add", "arguments": {"a": ' + "1" * 5000 + "}}",  # longer than int-string conversion allows
    ],
)
def test_hermes_pathological_json_is_an_error_not_a_crash(body):
    parsed = HermesParser().parse(f"<tool_call>{body}</tool_call>")
    assert parsed.tool_calls == ()
    assert "not valid JSON" in parsed.error


@pytest.mark.parametrize("body", ['{"arguments": {}}', '{"name": 5, "arguments": {}}', "[1, 2]", '"add"', "null"])
def test_hermes_missing_name(body):
    parsed = HermesParser().parse(f"<tool_call>{body}</tool_call>")
    assert parsed.tool_calls == ()
    assert 'tool call 0 has no "name"' in parsed.error
    assert "expected <tool_call>" in parsed.error


@pytest.mark.parametrize(("arguments", "got"), [(17, "int"), ([1, 2], "list"), ("[1]", "list"), ("3", "int"), (None, "NoneType")])
def test_hermes_arguments_must_be_an_object(arguments, got):
    body = json.dumps({"name": "add", "arguments": arguments})
    parsed = HermesParser().parse(f"<tool_call>{body}</tool_call>")
    assert parsed.tool_calls == ()
    assert f'tool call 0 (add): "arguments" must be a JSON object, got {got}' == parsed.error


@pytest.mark.parametrize("text", ['<tool_call>{"name": "add", "arguments": {}}', hermes_call("add", {}) + "<tool_call>{"])
def test_hermes_unclosed_tool_call(text):
    parsed = HermesParser().parse(text)
    assert parsed.tool_calls == ()
    assert "not closed" in parsed.error
    assert "<tool_call>{json}</tool_call>" in parsed.error


def test_hermes_plain_text_has_no_calls_and_no_error():
    parsed = HermesParser().parse("I am thinking.")
    assert parsed == ParsedAction(text="I am thinking.")


# ---- answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("parser", [ActionParser(), HermesParser(), OpenAIParser(), TagParser.for_tools([search])])
def test_answer_is_extracted_and_stripped(parser):
    parsed = parser.parse("Thinking done. <answer>\n  42 \n</answer>")
    assert parsed.error is None
    assert parsed.answer == "42"
    assert parsed.tool_calls == ()


def test_multiline_answer():
    assert HermesParser().parse("<answer>line one\nline two</answer>").answer == "line one\nline two"


def test_empty_answer_is_an_answer():
    parsed = HermesParser().parse("<answer></answer>")
    assert parsed.error is None
    assert parsed.answer == ""


@pytest.mark.parametrize("parser", [ActionParser(), HermesParser(), OpenAIParser(), TagParser.for_tools([search])])
def test_multiple_answers_are_an_error(parser):
    parsed = parser.parse("<answer>1</answer> or maybe <answer>2</answer>")
    assert parsed.answer is None
    assert "found 2 <answer> blocks" in parsed.error


@pytest.mark.parametrize("text", ["<answer>42", "<answer>1</answer> and <answer>2"])
@pytest.mark.parametrize("parser", [ActionParser(), HermesParser(), OpenAIParser(), TagParser.for_tools([search])])
def test_unclosed_answer_is_an_error(parser, text):
    parsed = parser.parse(text)
    assert parsed.answer is None
    assert "<answer> is not closed" in parsed.error
    assert "<answer>...</answer>" in parsed.error


def test_custom_answer_tag():
    parser = HermesParser(answer_tag="final")
    assert parser.parse("<final>7</final>").answer == "7"
    assert parser.parse("<answer>7</answer>").answer is None
    assert "<final>...</final>" in parser.format_help()


def test_answer_tag_with_regex_characters_is_matched_literally():
    parser = ActionParser(answer_tag="a.b")
    assert parser.parse("<a.b>1</a.b>").answer == "1"
    assert parser.parse("<axb>1</axb>").answer is None


def test_tool_call_and_answer_in_one_turn_is_an_error():
    parsed = HermesParser().parse(hermes_call("add", {"a": 1, "b": 2}) + "<answer>3</answer>")
    assert parsed.tool_calls == ()
    assert parsed.answer is None
    assert parsed.error == "send either tool calls or a final answer in one turn, not both"


def test_openai_tool_calls_and_answer_in_one_turn_is_an_error():
    action = OpenAIParser().render([("add", {"a": 1, "b": 2})], answer="3")
    assert isinstance(action, dict)
    assert "<answer>3</answer>" in action["content"]
    parsed = OpenAIParser().parse(action)
    assert parsed.error == "send either tool calls or a final answer in one turn, not both"


def test_tag_call_and_answer_in_one_turn_is_an_error():
    parsed = TagParser.for_tools([search]).parse("<search>x</search><answer>3</answer>")
    assert "not both" in parsed.error


# ---- OpenAI tool_calls ----------------------------------------------------------------------------


def openai_action(*calls, content=None):
    return {"role": "assistant", "content": content, "tool_calls": list(calls)}


def fn_call(name, arguments, **extra):
    return {"type": "function", "function": {"name": name, "arguments": arguments}, **extra}


@pytest.mark.parametrize("arguments", ['{"a": 1, "b": 2}', {"a": 1, "b": 2}])
@pytest.mark.parametrize("parser", [OpenAIParser(), HermesParser(), TagParser.for_tools([search])])
def test_openai_tool_calls_with_string_or_dict_arguments(parser, arguments):
    parsed = parser.parse(openai_action(fn_call("add", arguments, id="abc")), turn=2)
    assert parsed.error is None
    assert parsed.tool_calls == (ToolCall("add", {"a": 1, "b": 2}, "abc"),)


def test_openai_missing_id_gets_a_deterministic_id():
    action = openai_action(fn_call("add", "{}"), fn_call("add", "{}", id=7), fn_call("add", "{}", id="given"))
    first = OpenAIParser().parse(action, turn=5)
    again = OpenAIParser().parse(action, turn=5)
    assert [c.id for c in first.tool_calls] == ["call_5_0", "call_5_1", "given"]
    assert first == again


def test_openai_missing_or_empty_arguments_are_no_arguments():
    action = openai_action({"type": "function", "function": {"name": "now"}}, fn_call("now", ""))
    parsed = OpenAIParser().parse(action)
    assert parsed.error is None
    assert [c.arguments for c in parsed.tool_calls] == [{}, {}]


def test_openai_content_is_the_text_and_may_be_none():
    parsed = OpenAIParser().parse(openai_action(fn_call("add", "{}"), content="thinking"))
    assert parsed.text == "thinking"
    assert OpenAIParser().parse(openai_action(fn_call("add", "{}"))).text == ""


def test_openai_empty_tool_calls_reads_the_content():
    parsed = OpenAIParser().parse({"role": "assistant", "content": "<answer>4</answer>", "tool_calls": []})
    assert parsed.error is None
    assert parsed.answer == "4"


def test_openai_dict_without_tool_calls_is_parsed_as_text():
    parsed = HermesParser().parse({"role": "assistant", "content": hermes_call("add", {"a": 1})})
    assert parsed.tool_calls[0].name == "add"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("not a list", "got str"),
        ({"function": {}}, "got dict"),
        (["a string"], "call 0 has no function name"),
        ([{"type": "function"}], "call 0 has no function name"),
        ([{"function": "add"}], "call 0 has no function name"),
        ([{"function": {"name": 5}}], "call 0 has no function name"),
        ([fn_call("add", "{}"), {"function": {"arguments": "{}"}}], "call 1 has no function name"),
        ([fn_call("add", "{bad")], "call 0 (add): arguments are not valid JSON"),
        ([fn_call("add", "[" * 5000)], "call 0 (add): arguments are not valid JSON"),
        ([fn_call("add", "[1]")], "call 0 (add): arguments must be a JSON object, got list"),
        ([fn_call("add", 3)], "call 0 (add): arguments must be a JSON object, got int"),
        ([fn_call("add", None)], "call 0 (add): arguments must be a JSON object, got NoneType"),
    ],
)
def test_openai_malformed_tool_calls(raw, fragment):
    calls, error = parse_openai_tool_calls(raw, turn=0)
    assert calls == ()
    assert fragment in error
    parsed = OpenAIParser().parse({"role": "assistant", "content": "c", "tool_calls": raw})
    assert parsed.tool_calls == ()
    assert fragment in parsed.error
    assert parsed.text == "c"


def test_openai_no_function_name_says_what_was_expected():
    _, error = parse_openai_tool_calls([{}], turn=0)
    assert '"type": "function"' in error and '"arguments"' in error


def test_openai_parser_ignores_hermes_tags_in_text():
    parsed = OpenAIParser().parse(hermes_call("add", {"a": 1}))
    assert parsed.tool_calls == ()
    assert parsed.error is None


# ---- tags -----------------------------------------------------------------------------------------


def test_tag_parser_gives_string_tools_text_tags_and_other_tools_json_tags():
    parser = TagParser.for_tools([search, add, fetch, count])
    assert parser.tags == {
        "search": ("search", "query"),
        "add": ("add", None),
        "fetch": ("fetch", "url"),
        "count": ("count", None),
    }
    assert parser.untagged == ()
    help_text = parser.format_help()
    assert "<search>query</search>" in help_text and "<fetch>url</fetch>" in help_text
    assert "<add>{JSON arguments}</add>" in help_text


def test_tag_parser_reads_json_bodies_and_rejects_bad_ones():
    parser = TagParser.for_tools([search, add])
    parsed = parser.parse('<add>{"a": 1, "b": 2}</add>', turn=2)
    assert parsed.error is None and parsed.tool_calls == (ToolCall("add", {"a": 1, "b": 2}, "call_2_0"),)
    assert "takes a JSON object of arguments" in parser.parse("<add>1, 2</add>").error
    assert "got list" in parser.parse("<add>[1, 2]</add>").error


def test_tag_parser_never_maps_a_tool_named_like_the_answer_tag():
    @tool
    def answer(text: str) -> str:
        """A tool that would clash with <answer>."""
        return text

    parser = TagParser.for_tools([answer, search])
    assert "answer" not in parser.tags
    assert parser.parse("<answer>5</answer>").answer == "5"


def test_tag_parser_parses_calls_in_order():
    parser = TagParser.for_tools([search, fetch])
    parsed = parser.parse("<search> cats </search> then <fetch>http://x</fetch> and <search>dogs</search>", turn=4)
    assert parsed.error is None
    assert parsed.tool_calls == (
        ToolCall("search", {"query": "cats"}, "call_4_0"),
        ToolCall("fetch", {"url": "http://x"}, "call_4_1"),
        ToolCall("search", {"query": "dogs"}, "call_4_2"),
    )


def test_tag_parser_unclosed_tag():
    parser = TagParser.for_tools([search])
    parsed = parser.parse("<search>cats")
    assert parsed.tool_calls == ()
    assert "a tag is not closed" in parsed.error
    assert "<search>query</search>" in parsed.error


def test_tag_parser_without_tags_reads_answers_only():
    parser = TagParser.for_tools([])
    assert parser.tags == {}
    assert parser.parse("<add>1</add>").tool_calls == ()
    assert parser.parse("<answer>1</answer>").answer == "1"


def test_tag_parser_renders_json_tags_and_unknown_tools_as_openai_tool_calls():
    parser = TagParser.for_tools([search, add])
    action = parser.render([("add", {"a": 1, "b": "</add>"}), ("search", {"query": "x"})])
    assert action == '<add>{"a": 1, "b": "\\u003c/add>"}</add>\n<search>x</search>'
    parsed = parser.parse(action)
    assert parsed.error is None
    assert [(c.name, c.arguments) for c in parsed.tool_calls] == [("add", {"a": 1, "b": "</add>"}), ("search", {"query": "x"})]
    other = parser.render([("elsewhere", {"a": 1})])
    assert isinstance(other, dict) and parser.parse(other).tool_calls[0].name == "elsewhere"


@pytest.mark.parametrize("query", [" padded ", "a </search> b", "<b>bold</b>", 5])
def test_tag_parser_renders_values_a_tag_cannot_hold_as_tool_calls(query):
    parser = TagParser.for_tools([search])
    action = parser.render([("search", {"query": query})])
    assert isinstance(action, dict)
    assert parser.parse(action).tool_calls[0].arguments == {"query": query}


# ---- render -> parse round trips ------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
json_scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
arguments = st.dictionaries(st.text(max_size=10), json_values, max_size=4)
calls = st.lists(st.tuples(names, arguments), max_size=3)
# An answer is read stripped and cannot hold its own tags; text never holds any tag at all.
answers = st.text(max_size=40).map(str.strip).filter(lambda a: "<" not in a)
plain_text = st.text(max_size=40).filter(lambda t: "<" not in t)
quirky_text = st.sampled_from(
    ['"quoted"', "it's", "back\\slash", "ünï©ødé 東京 🙂", "</tool_call>", "<answer>x</answer>", "\n\t"]
)
strings = st.text(max_size=30) | quirky_text
round_trip = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def as_pairs(parsed):
    return [(c.name, c.arguments) for c in parsed.tool_calls]


@round_trip
@given(calls=calls, text=plain_text)
def test_hermes_round_trip_calls(calls, text):
    parsed = HermesParser().parse(HermesParser().render(calls, text=text), turn=1)
    assert parsed.error is None
    assert as_pairs(parsed) == calls
    assert parsed.answer is None


@round_trip
@given(name=names, values=st.lists(strings, min_size=1, max_size=3))
def test_hermes_round_trip_strings_that_look_like_tags(name, values):
    calls = [(name, {f"arg{i}": v, v: i}) for i, v in enumerate(values)]
    parsed = HermesParser().parse(HermesParser().render(calls))
    assert parsed.error is None
    assert as_pairs(parsed) == calls


@round_trip
@given(calls=calls, text=plain_text)
def test_openai_round_trip_calls(calls, text):
    action = OpenAIParser().render(calls, text=text)
    if calls:
        assert isinstance(action, dict)
        assert json.loads(json.dumps(action)) == action  # a plain JSON message
    parsed = OpenAIParser().parse(action, turn=1)
    assert parsed.error is None
    assert as_pairs(parsed) == calls


@round_trip
@given(queries=st.lists(st.tuples(st.sampled_from(["search", "fetch"]), strings), max_size=4), text=plain_text)
def test_tags_round_trip_calls(queries, text):
    parser = TagParser.for_tools([search, fetch])
    wanted = [(name, {"query" if name == "search" else "url": value}) for name, value in queries]
    parsed = parser.parse(parser.render(wanted, text=text), turn=1)
    assert parsed.error is None
    assert as_pairs(parsed) == wanted


@round_trip
@given(answer=answers, text=plain_text)
@pytest.mark.parametrize("parser", [ActionParser(), HermesParser(), OpenAIParser(), TagParser.for_tools([search])])
def test_answer_round_trip(parser, answer, text):
    parsed = parser.parse(parser.render(answer=answer, text=text))
    assert parsed.error is None
    assert parsed.answer == answer
    assert parsed.tool_calls == ()


def test_render_of_nothing_is_empty_text():
    for parser in [ActionParser(), HermesParser(), OpenAIParser(), TagParser.for_tools([search])]:
        assert parser.render() == ""


def test_hermes_render_escapes_angle_brackets_only_inside_json():
    action = HermesParser().render([("search", {"query": "</tool_call><answer>1</answer>"})])
    assert action.count("</tool_call>") == 1
    assert "<answer>" not in action


# ---- make_parser ----------------------------------------------------------------------------------


def test_make_parser_by_name():
    assert isinstance(make_parser("hermes", []), HermesParser)
    assert isinstance(make_parser("openai", []), OpenAIParser)
    tags = make_parser("tags", [search, add], answer_tag="final")
    assert isinstance(tags, TagParser)
    assert tags.tags == {"search": ("search", "query"), "add": ("add", None)}
    assert tags.answer_tag == "final"
    assert make_parser("hermes", [], answer_tag="final").answer_tag == "final"


def test_make_parser_passes_an_instance_through():
    parser = HermesParser(answer_tag="x")
    assert make_parser(parser, [search]) is parser


@pytest.mark.parametrize("spec", ["json", "Hermes", "", 5, None, HermesParser])
def test_make_parser_unknown_names(spec):
    with pytest.raises(ValueError, match="unknown parser") as info:
        make_parser(spec, [])
    assert "['hermes', 'openai', 'tags']" in str(info.value)


def test_parser_names():
    assert [HermesParser().name, OpenAIParser().name, TagParser().name] == ["hermes", "openai", "tags"]


# ---- stop strings ---------------------------------------------------------------------------------


def stopped(action, stops):
    """What a policy that stops at the first stop string it writes (keeping it) would have written."""
    ends = [action.find(s) + len(s) for s in stops if s in action]
    return action[: min(ends)] if ends else action


def test_each_format_states_the_strings_that_end_an_action():
    assert ActionParser().stop_strings == ("</answer>",)
    assert HermesParser(answer_tag="final").stop_strings == ("</tool_call>", "</final>")
    assert OpenAIParser().stop_strings == ("</answer>",)  # its tool calls are no text
    assert TagParser.for_tools([search, add, fetch]).stop_strings == ("</search>", "</add>", "</fetch>", "</answer>")

    @tool
    def answer(text: str) -> str:
        """A tool named like the answer tag, called through tool_calls only."""
        return text

    assert TagParser.for_tools([search, answer]).stop_strings == ("</search>", "</answer>")
    assert TagParser.for_tools([], answer_tag="guess").stop_strings == ("</guess>",)


@round_trip
@given(call=st.tuples(st.sampled_from(["search", "add", "fetch"]), strings), answer=answers)
@pytest.mark.parametrize("parser", [HermesParser(), OpenAIParser(), TagParser.for_tools([search, add, fetch])])
def test_a_policy_that_stops_at_the_stop_strings_can_write_every_rendered_action(parser, call, answer):
    name, value = call
    arguments = {"search": {"query": value}, "add": {"a": len(value), "b": 1}, "fetch": {"url": value}}[name]
    for action in (parser.render([(name, arguments)]), parser.render(answer=answer)):
        if isinstance(action, str):
            assert stopped(action, parser.stop_strings) == action
            assert action.endswith(parser.stop_strings)
