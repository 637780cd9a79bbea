"""Registration: lazy entry points, close-match errors, cards, turngym.make extras."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest
from env_params import is_gui

import turngym
from turngym.envs import UnknownEnvError
from turngym.envs.registration import BUILTIN_ENVS, env_card, one_line_card
from turngym.tools import tool

IDS = turngym.registered_ids()
MINIWOB_ALL_PARSERS = {"turngym/miniwob.click-test-2-v0", "turngym/miniwob.login-user-v0", "turngym/miniwob.choose-list-v0"}


def test_import_registers_lazily_without_importing_env_modules():
    code = (
        "import sys, turngym, gymnasium as gym; "
        "assert 'turngym/ToolCalc-v0' in gym.registry; "
        "assert 'turngym.envs.toolcalc' not in sys.modules, 'env modules imported at import time'; "
        "print(gym.registry['turngym/ToolCalc-v0'].entry_point)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == BUILTIN_ENVS["turngym/ToolCalc-v0"]


def test_unknown_id_names_close_matches():
    with pytest.raises(UnknownEnvError, match=r"did you mean 'turngym/ToolCalc-v0'"):
        turngym.make("turngym/ToolCal-v0")
    with pytest.raises(UnknownEnvError, match=r"did you mean 'turngym/GuessNumber-v0'"):
        turngym.make("turngym/guessnumber-v0")
    with pytest.raises(UnknownEnvError, match="turngym list"):
        turngym.make("nothing/like-this-v9")


def test_gym_make_passes_kwargs_and_records_them_in_the_spec():
    env = gym.make("turngym/ToolCalc-v0", difficulty=5, parser="openai")
    assert env.difficulty_range == (5, 5) and env.parser.name == "openai"
    assert env.spec.kwargs["difficulty"] == 5


def test_every_builtin_env_has_a_full_card():
    for env_id in BUILTIN_ENVS:
        card = env_card(env_id)
        for section in ("Observation:", "Action:", "Rewards:", "Episode End:", "Arguments:", ">>>"):
            assert section in card, f"{env_id} card lacks {section}"
        assert one_line_card(env_id) == card.splitlines()[0]


def test_register_adds_to_registered_ids():
    turngym.register("tests/AnotherGuess-v0", entry_point="turngym.envs.guess_number:GuessNumberEnv", kwargs={"high": 7})
    assert "tests/AnotherGuess-v0" in turngym.registered_ids()
    env = turngym.make("tests/AnotherGuess-v0")
    assert env.high == 7 and isinstance(env, turngym.envs.AgentEnv)


def oracle_actions(env, seeds=(0, 1), max_steps=12):
    """The oracle's actions over a few seeded episodes."""
    actions = []
    for seed in seeds:
        env.reset(seed=seed)
        for _ in range(max_steps):
            action = env.unwrapped.oracle_action()
            if action is None:
                break
            actions.append(action)
            *_, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    return actions


# every env with every parser, except that the 128 MiniWoB IDs (one env class, one parser code path)
# take the other parsers on a few of them
PARSER_CASES = [
    pytest.param(env_id, parser, marks=pytest.mark.browser) if is_gui(env_id) else (env_id, parser)
    for env_id in IDS
    for parser in (None, "hermes", "openai", "tags")
    if parser is None or not env_id.startswith("turngym/miniwob.") or env_id in MINIWOB_ALL_PARSERS
]


@pytest.mark.parametrize(("env_id", "parser"), PARSER_CASES)
def test_every_env_states_stop_strings_that_its_oracle_actions_end_with(env_id, parser):
    env = turngym.make(env_id, **({} if parser is None else {"parser": parser}))
    try:
        stops = env.get_wrapper_attr("stop_strings")
        assert isinstance(stops, tuple) and stops and all(isinstance(s, str) and s.startswith("</") for s in stops), stops
        parser_stops = env.unwrapped.parser.stop_strings
        assert stops[: len(parser_stops)] == parser_stops  # the parser's first; an env may add its own action tags
        texts = [a if isinstance(a, str) else a.get("content") or "" for a in oracle_actions(env)]
        for text in filter(None, texts):  # an OpenAI tool call is no text: nothing to stop
            ends = [text.find(s) + len(s) for s in stops if s in text]
            assert ends and min(ends) == len(text), f"a policy stopping at {stops} cannot write the oracle's {text!r}"
    finally:
        env.close()


def test_search_envs_stop_at_their_tool_tags_and_follow_added_tools():
    for env_id in ("turngym/SearchQA-v0", "turngym/MultiHopQA-v0", "turngym/WikiQA-v0"):
        assert turngym.make(env_id).stop_strings == ("</search>", "</answer>")
    assert turngym.make("turngym/GrepSearch-v0").stop_strings == ("</shell>", "</answer>")
    assert turngym.make("turngym/GuessNumber-v0").stop_strings == ("</guess>",)
    assert turngym.make("turngym/ToolCalc-v0").stop_strings == ("</tool_call>", "</answer>")
    env = turngym.make("turngym/MultiHopQA-v0", parser="hermes")
    assert env.stop_strings == ("</tool_call>", "</answer>")

    @tool
    def note(text: str) -> str:
        """Write a note.

        Args:
            text: The note.
        """
        return text

    tagged = turngym.make("turngym/Echo-v0")
    tagged.add_tools([note])
    assert tagged.stop_strings == ("</note>", "</answer>")
