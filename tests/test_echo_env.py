"""turngym/Echo-v0: the word-echo env of the learning checks."""

from __future__ import annotations

import doctest

import pytest

import turngym
from turngym.agents import OraclePolicy
from turngym.engine import play_episodes
from turngym.envs import echo
from turngym.envs.vector import make_vec


def test_card_example_runs():
    result = doctest.testmod(echo)
    assert result.attempted > 0 and result.failed == 0


def test_oracle_answers_every_task_in_one_turn():
    with make_vec("turngym/Echo-v0", 4) as vec:
        results = play_episodes(vec, OraclePolicy(), 16, seed=3)
    assert all(r.outcome == 1.0 and r.turns == 1 and r.stop_reason == "answered" for r in results)
    assert len({r.task_id for r in results}) > 3


def test_bare_words_wrong_words_and_malformed_actions():
    env = turngym.make("turngym/Echo-v0", words=["apple", "river"], max_turns=4)
    obs, info = env.reset(seed=1)
    word = obs[1]["content"].removeprefix("echo ")
    other = "river" if word == "apple" else "apple"
    obs, reward, terminated, truncated, info = env.step(f"{other} please")
    assert obs[0]["content"] == f"No. echo {word}" and info["error"] is None and not (terminated or truncated)
    obs, reward, terminated, truncated, info = env.step("... ?")
    assert info["error"] == "found no word and no <answer>" and info["invalid_actions"] == 1
    obs, reward, terminated, truncated, info = env.step(f"  {word.upper()}")  # answers compare exactly
    assert not terminated
    obs, reward, terminated, truncated, info = env.step(f"{word}!")
    assert terminated and reward == 1.0 and info["turn"] == 4


def test_episode_is_cut_off_after_max_turns():
    env = turngym.make("turngym/Echo-v0", max_turns=2)
    env.reset(seed=0)
    env.step("<answer>nothing</answer>")
    _, reward, terminated, truncated, info = env.step("nothing")
    assert truncated and not terminated and info["stop_reason"] == "max_turns" and info["reward_parts"] == {"outcome": 0.0}


@pytest.mark.parametrize("words", [["apple"], ["apple", "apple"], ["apple", "two words"], "apple", ["apple", 3]])
def test_bad_word_lists_are_refused(words):
    with pytest.raises(ValueError, match="words must be"):
        turngym.make("turngym/Echo-v0", words=words)
