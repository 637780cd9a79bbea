"""ToolCalc: generated tasks, difficulty, oracle success, random failure, its process hook."""

from __future__ import annotations

import numpy as np
import pytest

import turngym
from turngym.agents import OraclePolicy, RandomPolicy
from turngym.engine import play_episodes
from turngym.envs.toolcalc import make_task
from turngym.tools import evaluate_arithmetic


@pytest.mark.parametrize("difficulty", range(1, 9))
def test_plan_has_exactly_difficulty_calls_and_computes_the_answer(difficulty):
    for seed in range(20):
        task = make_task(np.random.default_rng(seed), difficulty)
        plan = task.facts["plan"]
        assert len(plan) == difficulty
        assert sum(p["tool"] == "lookup" for p in plan) == (difficulty + 1) // 2
        table, value = task.facts["table"], None
        for step in plan:
            if step["tool"] == "lookup":
                looked_up = table[step["arguments"]["item"]][step["arguments"]["field"]]
                value = looked_up if value is None else value
            else:
                value = evaluate_arithmetic(step["arguments"]["expression"])
        assert str(value) == task.answer
        assert task.facts["intermediates"][-1] == value


def test_task_text_names_every_looked_up_item():
    task = make_task(np.random.default_rng(3), 6)
    for step in task.facts["plan"]:
        if step["tool"] == "lookup":
            assert f"the {step['arguments']['field']} of the {step['arguments']['item']}" in task.prompt


@pytest.mark.parametrize("parser", ["hermes", "openai", "tags"])
@pytest.mark.parametrize("difficulty", [1, 4, 8])
def test_oracle_solves_every_task(parser, difficulty):
    vec = turngym.make_vec("turngym/ToolCalc-v0", 4, difficulty=difficulty, parser=parser)
    results = play_episodes(vec, OraclePolicy(), episodes=8)
    assert all(r.outcome == 1.0 and r.stop_reason == "answered" for r in results)
    assert all(r.turns == difficulty + 1 for r in results)


def test_random_policy_does_not_solve_it():
    vec = turngym.make_vec("turngym/ToolCalc-v0", 4, difficulty=3)
    results = play_episodes(vec, RandomPolicy.for_env("turngym/ToolCalc-v0", seed=0), episodes=40)
    assert sum(r.outcome for r in results) / len(results) < 0.1


def test_difficulty_range_draws_per_episode():
    env = turngym.make("turngym/ToolCalc-v0", difficulty=(1, 8))
    seen = set()
    for seed in range(40):
        env.reset(seed=seed)
        seen.add(env.state.task.facts["difficulty"])
    assert seen == set(range(1, 9))


def test_process_parts_reward_valid_calls_and_correct_intermediates():
    env = turngym.make("turngym/ToolCalc-v0", difficulty=2)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.oracle_action())  # lookup
    assert info["reward_parts"] == {"valid_tool_call": 1.0} and reward == pytest.approx(0.1)
    expression = env.state.task.facts["plan"][1]["arguments"]["expression"]
    wrong = f'<tool_call>{{"name": "calculator", "arguments": {{"expression": "{expression} + 1000"}}}}</tool_call>'
    fork = env.fork()
    _, reward, _, _, info = fork.step(wrong)
    assert info["reward_parts"] == {"valid_tool_call": 1.0, "intermediate": 0.0} and reward == pytest.approx(0.1)
    _, reward, _, _, info = env.step(env.oracle_action())
    assert info["reward_parts"] == {"valid_tool_call": 1.0, "intermediate": 1.0} and reward == pytest.approx(0.2)


def test_weights_and_hooks_can_be_overridden():
    env = turngym.make("turngym/ToolCalc-v0", process_rewards=[], reward_weights={"outcome": 2.0})
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.oracle_action())
    assert info["reward_parts"] == {} and reward == 0.0
    while not info["stop_reason"]:
        _, reward, _, _, info = env.step(env.oracle_action())
    assert reward == 2.0


def test_lookup_is_case_insensitive_and_reports_unknown_items():
    env = turngym.make("turngym/ToolCalc-v0")
    env.reset(seed=0)
    item = next(iter(env.state.task.facts["table"]))
    ok = env.step(f'<tool_call>{{"name": "lookup", "arguments": {{"item": "  {item.lower()} ", "field": "price"}}}}</tool_call>')
    assert ok[0][0]["content"] == str(env.state.task.facts["table"][item]["price"])
    bad = env.step('<tool_call>{"name": "lookup", "arguments": {"item": "Nothing", "field": "price"}}</tool_call>')
    assert "no item named 'Nothing'" in bad[0][0]["content"]
