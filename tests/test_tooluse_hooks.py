"""ToolUse's ToolRL-style hooks: tool-name match, argument match, format, on real env steps."""

from __future__ import annotations

import json

import pytest

from turngym.envs.hooks.base import StepContext
from turngym.envs.parsers import ParsedAction
from turngym.envs.tooluse import ArgumentMatch, ToolFormat, ToolNameMatch, ToolUseEnv
from turngym.envs.tooluse.matching import argument_score, full_match, replay, values_match


def _env(**kwargs):
    return ToolUseEnv(python_tool=False, **kwargs)


def _call(name, arguments):
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def _first_task(env, difficulty, predicate, seeds=range(300)):
    for seed in seeds:
        env.reset(seed=seed, options={"difficulty": difficulty})
        if predicate(env.state.task.facts["calls"]):
            return env.state.task.facts["calls"]
    raise AssertionError("no seed gives such a task")


def test_the_reference_call_scores_full_marks():
    env = _env(difficulty=3)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.oracle_action())
    assert info["reward_parts"] == {"tool_name": 1.0, "arguments": 1.0, "format": 0.0}
    assert reward == pytest.approx(0.4)


def test_a_wrong_tool_scores_zero_name_and_no_argument_part():
    env = _env(difficulty=3)
    calls = _first_task(env, 3, lambda c: c[0]["name"] == "query_table")
    _, _, _, _, info = env.step(_call("weekday", {"date": "2026-01-01"}))
    assert info["reward_parts"] == {"tool_name": 0.0, "format": 0.0}
    assert calls[0]["name"] == "query_table"


def test_wrong_arguments_score_partial_marks():
    env = _env(difficulty=2)
    calls = _first_task(env, 2, lambda c: c[0]["name"] == "convert_units")
    ref = calls[0]["arguments"]
    _, _, _, _, info = env.fork().step(_call("convert_units", {**ref, "value": ref["value"] + 1}))
    assert info["reward_parts"]["tool_name"] == 1.0 and info["reward_parts"]["arguments"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    _, _, _, _, info = env.fork().step(_call("convert_units", {"value": ref["value"], "unit": "m"}))
    assert info["reward_parts"]["arguments"] < 0.5 and info["reward_parts"]["format"] == -1.0  # invalid arguments


def test_equivalent_sql_and_unit_names_count_as_matches():
    env = _env(difficulty=2)
    calls = _first_task(env, 2, lambda c: c[0]["name"] == "query_table" and "COUNT(*)" in c[0]["arguments"]["sql"])
    sql = calls[0]["arguments"]["sql"].replace("COUNT(*)", "count(name) AS n").replace("SELECT", "select")
    _, _, _, _, info = env.step(_call("query_table", {"sql": sql}))
    assert info["reward_parts"]["arguments"] == 1.0
    assert values_match("convert_units", "to_unit", "Kilometres", "km") and values_match("date_add", "days", 19, 19.0)
    assert not values_match("convert_units", "to_unit", "miles", "km")


def test_malformed_actions_score_the_format_penalty_only():
    env = _env(difficulty=2)
    env.reset(seed=0)
    for action in ("<tool_call>{not json</tool_call>", "no call, no answer", _call("no_such_tool", {})):
        _, _, _, _, info = env.fork().step(action)
        assert info["reward_parts"]["format"] == -1.0
        assert info["reward_parts"].get("tool_name", 0.0) == 0.0 and "arguments" not in info["reward_parts"]


def test_a_valid_order_other_than_the_reference_scores_the_same():
    env = _env(difficulty=4)
    calls = _first_task(env, 4, lambda c: len(c) > 2 and not c[0]["after"] and any(not x["after"] for x in c[1:]))
    independent = next(i for i, c in enumerate(calls) if i > 0 and not c["after"])
    _, _, _, _, info = env.step(_call(calls[independent]["name"], calls[independent]["arguments"]))
    assert info["reward_parts"] == {"tool_name": 1.0, "arguments": 1.0, "format": 0.0}
    _, _, _, _, info = env.step(env.oracle_action())  # the oracle goes on with what is left
    assert info["reward_parts"] == {"tool_name": 1.0, "arguments": 1.0, "format": 0.0}
    while not info["stop_reason"]:
        _, _, _, _, info = env.step(env.oracle_action())
    assert info["reward_parts"]["outcome"] == 1.0


def test_a_later_call_scores_only_with_exactly_the_reference_arguments():
    env = _env(difficulty=3)
    calls = _first_task(env, 3, lambda c: c[1]["name"] != c[0]["name"] and c[1]["after"] == [0])
    guessed = {k: (v + 1 if isinstance(v, (int, float)) else v + "9") for k, v in calls[1]["arguments"].items()}
    _, _, _, _, info = env.fork().step(_call(calls[1]["name"], guessed))
    assert info["reward_parts"]["tool_name"] == 0.0 and "arguments" not in info["reward_parts"]
    # the right inputs found without the first call (say, worked out in the head): both count as done
    _, _, _, _, info = env.step(_call(calls[1]["name"], calls[1]["arguments"]))
    assert info["reward_parts"] == {"tool_name": 1.0, "arguments": 1.0, "format": 0.0}
    assert env.oracle_action() == env.parser.render([(calls[2]["name"], calls[2]["arguments"])])


def test_each_reference_call_earns_credit_once_unless_fully_matched():
    env = _env(difficulty=2)
    calls = _first_task(env, 2, lambda c: c[0]["name"] == "query_table")
    wrong = _call("query_table", {"sql": "SELECT 123456789"})
    first = env.step(wrong)[4]["reward_parts"]
    again = env.step(wrong)[4]["reward_parts"]
    right = env.step(_call("query_table", calls[0]["arguments"]))[4]["reward_parts"]
    assert first == {"tool_name": 1.0, "arguments": 0.5, "format": 0.0}
    assert again == {"tool_name": 0.0, "format": 0.0}
    assert right == {"tool_name": 1.0, "arguments": 1.0, "format": 0.0}


def test_repeating_a_matched_call_earns_nothing():
    env = _env(difficulty=3)
    _first_task(env, 3, lambda c: c[1]["name"] != c[0]["name"])
    action = env.oracle_action()
    env.step(action)
    assert env.step(action)[4]["reward_parts"] == {"tool_name": 0.0, "format": 0.0}


def test_replay_tracks_matched_and_attempted_calls():
    refs = [
        {"name": "calculator", "arguments": {"expression": "2 * 3"}, "output": "6", "after": []},
        {"name": "weekday", "arguments": {"date": "2026-03-14"}, "output": "Saturday", "after": [0]},
    ]
    ok = {"name": "calculator", "arguments": {"expression": "3*2"}, "ok": True, "output": "6"}
    bad = {"name": "calculator", "arguments": {"expression": "3*3"}, "ok": True, "output": "9"}
    assert full_match(ok, refs[0]) and not full_match(bad, refs[0])
    assert argument_score(bad, refs[0]) == 0.5
    progress = replay(refs, [bad])
    assert progress.matched == set() and progress.attempted == {0} and progress.frontier(refs) == [0]
    progress = replay(refs, [bad, ok])
    assert progress.matched == {0} and progress.frontier(refs) == [1]
    python = {"name": "python", "arguments": {"code": "print(6 * 7)"}, "output": "42", "after": []}
    assert full_match({"name": "python", "arguments": {"code": "x"}, "ok": True, "output": "N = 42"}, python)
    assert not full_match({"name": "python", "arguments": {"code": "x"}, "ok": True, "output": "42 or 43"}, python)
    assert not full_match({"name": "calculator", "arguments": {"expression": "x"}, "ok": True, "output": "N = 6"}, refs[0])


def test_hooks_do_not_apply_without_reference_calls_or_tool_calls():
    ctx = StepContext(
        env_id="x", task_id="t", task="", turn=1, history=(), action={"role": "assistant", "content": "<answer>1</answer>"},
        parsed=ParsedAction(answer="1"), tool_calls=(), observation=(),
    )  # fmt: skip
    assert ToolNameMatch().score_batch([ctx]) == [None] and ArgumentMatch().score_batch([ctx]) == [None]
    assert ToolFormat().score_batch([ctx]) == [0.0]
    assert ToolFormat(think=True).score_batch([ctx]) == [-1.0]


def test_think_format_wants_a_think_block_first():
    env = ToolUseEnv(python_tool=False, difficulty=1, process_rewards=[ToolFormat(think=True)])
    env.reset(seed=0)
    plain = env.fork().step(env.oracle_action())[4]["reward_parts"]
    thought = env.fork().step("<think>first the table</think>\n" + env.oracle_action())[4]["reward_parts"]
    assert plain["format"] == -1.0 and thought["format"] == 0.0


def test_oracle_episodes_earn_more_process_reward_than_random_ones():
    from turngym.envs.spaces import AssistantActionSpace

    oracle, random_ = [], []
    for seed in range(12):
        env = _env(difficulty=(2, 5))
        env.reset(seed=seed)
        total, info = 0.0, {"stop_reason": None}
        while not info["stop_reason"]:
            _, _, _, _, info = env.step(env.oracle_action())
            total += sum(v for k, v in info["reward_parts"].items() if k != "outcome")
        oracle.append(total)
        env.reset(seed=seed)
        space = AssistantActionSpace(list(env.tools.values()), env.parser, garbage_rate=0.2, seed=seed)
        total, info = 0.0, {"stop_reason": None}
        while not info["stop_reason"]:
            _, _, _, _, info = env.step(space.sample())
            total += sum(v for k, v in info["reward_parts"].items() if k != "outcome")
        random_.append(total)
    assert min(oracle) >= 2.0 and max(random_) < min(oracle)
