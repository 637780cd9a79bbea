"""Policies and the rollout loop."""

from __future__ import annotations

import pytest

import turngym
from turngym.agents import OraclePolicy, PolicyOutput, RandomPolicy, ScriptedPolicy
from turngym.engine import play_episodes


def test_scripted_policy_drives_a_multi_turn_episode_from_the_conversation():
    def binary_search(conversation):
        low, high = 1, 100
        guesses = [m["content"] for m in conversation if m["role"] == "assistant"]
        replies = [m["content"] for m in conversation if m["role"] == "user"][1:]
        for guess, reply in zip(guesses, replies, strict=True):
            n = int(guess.removeprefix("<guess>").removesuffix("</guess>"))
            low, high = (n + 1, high) if reply == "Higher." else (low, n - 1)
        return f"<guess>{(low + high) // 2}</guess>"

    vec = turngym.make_vec("turngym/GuessNumber-v0", 3)
    results = play_episodes(vec, ScriptedPolicy(binary_search), episodes=9, seed=10)
    assert all(r.stop_reason == "answered" and r.outcome == 1.0 for r in results)
    assert sorted(r.seed for r in results) == list(range(10, 19))
    assert all(r.turns <= 7 for r in results)
    conversation = results[0].conversation
    assert conversation[0]["role"] == "system" and conversation[-1]["role"] == "assistant"


def test_rollout_results_do_not_depend_on_the_number_of_envs():
    def play(num_envs):
        vec = turngym.make_vec("turngym/ToolCalc-v0", num_envs, difficulty=2)
        return sorted((r.seed, r.task_id, r.total_reward) for r in play_episodes(vec, OraclePolicy(), episodes=6))

    assert play(1) == play(4)


def test_random_policy_is_seeded():
    a = RandomPolicy.for_env("turngym/ToolCalc-v0", seed=3).act_batch([[]] * 20)
    b = RandomPolicy.for_env("turngym/ToolCalc-v0", seed=3).act_batch([[]] * 20)
    c = RandomPolicy.for_env("turngym/ToolCalc-v0", seed=4).act_batch([[]] * 20)
    assert a == b and a != c


def test_a_policy_returning_the_wrong_number_of_actions_is_an_error():
    class Broken:
        def act_batch(self, conversations):
            return [PolicyOutput("x")]

    vec = turngym.make_vec("turngym/GuessNumber-v0", 2)
    with pytest.raises(ValueError, match="returned 1 actions for 2 conversations"):
        play_episodes(vec, Broken(), episodes=2)


def test_oracle_policy_refuses_envs_without_an_oracle():
    from turngym.envs import AgentEnv, Task

    class NoOracle(AgentEnv):
        """No oracle."""

        def _make_task(self, options):
            return Task(id="t", prompt="p", answer="a")

    turngym.register("tests/NoOracle-v0", entry_point=NoOracle)
    with pytest.raises(ValueError, match="no oracle"):
        play_episodes(turngym.make_vec("tests/NoOracle-v0", 1), OraclePolicy(), episodes=1)
