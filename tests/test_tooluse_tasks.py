"""ToolUse tasks: difficulty = reference calls, several different tools, dependencies, answers
that replaying the reference calls with the real tools gives, splits."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from turngym.envs.tooluse import convert_units, date_add, days_between, make_task, query_table, weekday
from turngym.envs.tooluse.answers import canonical_answer, parse_number, score_answer
from turngym.envs.tooluse.tasks import min_distinct_tools, task_split
from turngym.tools.calculator import calculator

TOOLS = {t.name: t for t in (query_table, convert_units, calculator, date_add, days_between, weekday)}


def _replay(task):
    """Run every reference call except python with the real tool; the outputs."""
    outputs = []
    for call in task.facts["calls"]:
        if call["name"] == "python":
            outputs.append(call["output"])
            continue
        result = TOOLS[call["name"]].run(call["arguments"], {"table": task.facts["table"]})
        assert result.ok, result.output
        outputs.append(result.output)
    return outputs


@pytest.mark.parametrize("difficulty", range(1, 7))
def test_reference_calls_replay_to_the_answer(difficulty):
    rng = np.random.default_rng(difficulty)
    for _ in range(40):
        task = make_task(rng, difficulty, python=False)
        calls = task.facts["calls"]
        assert len(calls) == difficulty
        assert len({c["name"] for c in calls}) >= min_distinct_tools(difficulty)
        outputs = _replay(task)
        assert outputs == [c["output"] for c in calls]
        assert task.answer == canonical_answer(outputs[-1], task.facts["answer_kind"])
        assert score_answer(task.answer, outputs[-1], task.facts["answer_kind"]) == 1.0


def test_each_call_uses_the_output_of_the_calls_it_follows():
    rng = np.random.default_rng(0)
    for _ in range(200):
        calls = make_task(rng, int(rng.integers(2, 7)), python=False).facts["calls"]
        for i, call in enumerate(calls):
            assert all(a < i for a in call["after"])
            text = " ".join(str(v) for v in call["arguments"].values())
            for a in call["after"]:
                assert str(calls[a]["output"]) in text or str(float(calls[a]["output"])) in text


def test_some_tasks_have_calls_that_may_come_in_either_order():
    rng = np.random.default_rng(1)
    tasks = [make_task(rng, 4, python=False) for _ in range(60)]
    assert any(sum(not c["after"] for c in t.facts["calls"]) >= 2 for t in tasks)


def test_tasks_use_every_tool_and_vary():
    rng = np.random.default_rng(2)
    tasks = [make_task(rng, d) for d in range(1, 7) for _ in range(60)]
    used = collections.Counter(c["name"] for t in tasks for c in t.facts["calls"])
    assert set(used) == {"query_table", "convert_units", "calculator", "date_add", "days_between", "weekday", "python"}
    assert len({t.prompt for t in tasks}) == len(tasks)
    assert {t.facts["answer_kind"] for t in tasks} == {"number", "date", "text"}


def test_without_python_no_task_needs_it():
    rng = np.random.default_rng(3)
    assert not any(c["name"] == "python" for _ in range(100) for c in make_task(rng, 5, python=False).facts["calls"])


def test_same_seed_same_task_and_splits_are_disjoint():
    assert make_task(np.random.default_rng(7), 3) == make_task(np.random.default_rng(7), 3)
    train = {make_task(np.random.default_rng(s), 2, split="train").id for s in range(30)}
    test = {make_task(np.random.default_rng(s), 2, split="test").id for s in range(30)}
    assert not train & test
    assert all(task_split(i) == "train" for i in train) and all(task_split(i) == "test" for i in test)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"difficulty": 0}, "difficulty: expected an int in 1..6"), ({"difficulty": 2, "split": "dev"}, "split: expected")],
)
def test_make_task_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_task(np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize(
    ("answer", "result", "kind", "score"),
    [
        ("60.35", "60.3504", "number", 1.0),
        ("60.3504 km", "60.3504", "number", 1.0),
        ("60.36", "60.3504", "number", 0.0),
        ("1,234", "1234", "number", 1.0),
        ("about 12", "12", "number", 0.0),
        ("12 or 13", "12", "number", 0.0),
        ("2026-04-02", "2026-04-02", "date", 1.0),
        ("April 2", "2026-04-02", "date", 0.0),
        (" saturday.", "Saturday", "text", 1.0),
        ("Sunday", "Saturday", "text", 0.0),
    ],
)
def test_answers_are_scored_by_kind(answer, result, kind, score):
    assert score_answer(answer, result, kind) == score


def test_parse_number():
    assert parse_number("-3.5") == -3.5 and parse_number("x") is None and parse_number("") is None


def test_python_reference_code_prints_the_computed_value():
    from turngym.envs.tooluse.python_tasks import COMPUTATIONS
    from turngym.tools.python_tool import PythonTool

    tool = PythonTool("local")
    try:
        for computation in COMPUTATIONS:
            for n in (computation.low, 97, computation.high):
                assert tool.run({"code": computation.code.format(n=n)}).output == str(computation.fn(n))
    finally:
        tool.close()
