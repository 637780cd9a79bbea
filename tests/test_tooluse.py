"""ToolUse-v0: the oracle solves every task, a random policy does not, difficulty, rewards, card."""

from __future__ import annotations

import doctest

import pytest

import turngym
import turngym.envs.tooluse.env as tooluse_env
from turngym.agents import OraclePolicy, RandomPolicy
from turngym.engine import play_episodes

ENV_ID = "turngym/ToolUse-v0"


@pytest.mark.parametrize("parser", ["hermes", "openai", "tags"])
@pytest.mark.parametrize("difficulty", [1, 3, 6])
def test_oracle_solves_every_task_in_difficulty_plus_one_turns(parser, difficulty):
    with turngym.make_vec(ENV_ID, 4, difficulty=difficulty, parser=parser) as vec:
        results = play_episodes(vec, OraclePolicy(), episodes=8)
    assert all(r.outcome == 1.0 and r.stop_reason == "answered" for r in results)
    assert all(r.turns == difficulty + 1 for r in results)


@pytest.mark.slow
def test_oracle_solves_hundreds_of_tasks_with_python():
    with turngym.make_vec(ENV_ID, 4, difficulty=(1, 6)) as vec:
        results = play_episodes(vec, OraclePolicy(), episodes=240)
    assert sum(r.outcome for r in results) == len(results)


@pytest.mark.parametrize("sandbox", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_python_tasks_are_solved_through_the_sandbox(sandbox):
    env = turngym.make(ENV_ID, difficulty=2, sandbox=sandbox)
    for seed in range(200):
        env.reset(seed=seed)
        if "python" in env.state.task.facts["tools"]:
            break
    info = {"stop_reason": None}
    outputs = []
    while not info["stop_reason"]:
        _, _, _, _, info = env.step(env.oracle_action())
        outputs += [(c["name"], c["ok"]) for c in info["tool_calls"]]
    assert ("python", True) in outputs and info["reward_parts"]["outcome"] == 1.0
    env.close()


def test_random_policy_does_not_solve_it():
    with turngym.make_vec(ENV_ID, 4, difficulty=(2, 4)) as vec:
        results = play_episodes(vec, RandomPolicy.for_env(ENV_ID, seed=0), episodes=40)
    assert sum(r.outcome for r in results) / len(results) < 0.05


def test_difficulty_range_draws_per_episode_and_sets_max_turns():
    env = turngym.make(ENV_ID, difficulty=(1, 6), python_tool=False)
    assert env.max_turns == 9
    seen = set()
    for seed in range(60):
        env.reset(seed=seed)
        seen.add(len(env.state.task.facts["calls"]))
    assert seen == set(range(1, 7))


def test_the_prompt_shows_the_schema_but_not_the_rows():
    env = turngym.make(ENV_ID, difficulty=1, python_tool=False)
    for seed in range(50):
        obs, _ = env.reset(seed=seed)
        table = env.state.task.facts["table"]
        if env.state.task.facts["tools"] == ["query_table"]:
            break
    prompt = obs[1]["content"]
    assert f"Table `{table['name']}`" in prompt and all(column in prompt for column, _ in table["columns"])
    assert not any(
        row[0] in prompt for row in table["rows"] if row[0] not in env.state.task.facts["calls"][0]["arguments"]["sql"]
    )


def test_weights_and_hooks_can_be_overridden():
    env = turngym.make(ENV_ID, difficulty=2, python_tool=False, process_rewards=[], reward_weights={"outcome": 2.0})
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.oracle_action())
    assert info["reward_parts"] == {} and reward == 0.0
    while not info["stop_reason"]:
        _, reward, _, _, info = env.step(env.oracle_action())
    assert reward == 2.0


def test_a_wrong_answer_scores_zero_outcome():
    env = turngym.make(ENV_ID, difficulty=1, python_tool=False)
    env.reset(seed=0)
    env.step(env.oracle_action())
    _, _, terminated, _, info = env.step("<answer>not it</answer>")
    assert terminated and info["reward_parts"]["outcome"] == 0.0


def test_the_test_split_holds_other_tasks():
    train, test = (turngym.make(ENV_ID, difficulty=3, python_tool=False, split=s) for s in ("train", "test"))
    ids = {s: set() for s in ("train", "test")}
    for seed in range(20):
        for name, env in (("train", train), ("test", test)):
            env.reset(seed=seed)
            ids[name].add(env.state.task.id)
    assert not ids["train"] & ids["test"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"difficulty": 7}, "difficulty must be an int in 1..6"),
        ({"difficulty": (3, 2)}, "difficulty must be an int in 1..6"),
        ({"split": "dev"}, "split must be 'train', 'test' or None"),
        ({"rows": (1, 5)}, "rows must be a \\(low, high\\) pair"),
    ],
)
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        turngym.make(ENV_ID, python_tool=False, **kwargs)


def test_without_python_the_tool_is_not_offered():
    assert "python" not in turngym.make(ENV_ID, python_tool=False).tools
    assert "python" in turngym.make(ENV_ID).tools


def test_env_card_example_runs():
    result = doctest.testmod(tooluse_env, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
    card = turngym.envs.registration.env_card(ENV_ID)
    assert all(
        section in card for section in ("Description:", "Observation:", "Action:", "Rewards:", "Episode End:", "Arguments:")
    )
