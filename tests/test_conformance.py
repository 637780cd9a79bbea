"""Every registered env passes every conformance check; registering an env adds it here."""

from __future__ import annotations

import pytest
from env_params import env_params, is_gui

import turngym
from turngym.envs.conformance import CHECKS, check_determinism, check_episode_state, check_fork, check_gymnasium
from turngym.envs.registration import spec

IDS = turngym.registered_ids()
PARAMS = env_params(IDS)
# 128 GUI IDs: garbage never reaches the browser (it fails parsing), and random actions mostly miss
# the page's few elements, so shorter runs test the same code in a third of the time
GUI_BUDGETS = {"fuzz": {"n": 100}, "determinism": {"steps": 20}}


def test_registry_holds_the_builtin_envs():
    assert {"turngym/ToolCalc-v0", "turngym/GuessNumber-v0"} <= set(IDS)


@pytest.mark.parametrize("check_name", list(CHECKS))
@pytest.mark.parametrize("env_id", PARAMS)
def test_conformance(env_id, check_name):
    if check_name in ("determinism", "fork") and spec(env_id).nondeterministic:
        pytest.skip("the spec says nondeterministic (as Gymnasium's check_env, no same-seed comparison)")
    CHECKS[check_name](env_id, **(GUI_BUDGETS.get(check_name, {}) if is_gui(env_id) else {}))


@pytest.mark.browser
@pytest.mark.parametrize("env_id", [i for i in IDS if is_gui(i)])
def test_gui_envs_conform_with_screenshot_observations(env_id):
    check_gymnasium(env_id, observation="screenshot", set_of_marks=True)


@pytest.mark.parametrize("parser", ["hermes", "openai", "tags"])
def test_toolcalc_conforms_with_every_parser(parser):
    check_determinism("turngym/ToolCalc-v0", parser=parser)
    check_fork("turngym/ToolCalc-v0", parser=parser)
    check_episode_state("turngym/ToolCalc-v0", parser=parser)


@pytest.mark.parametrize("parser", ["hermes", "openai"])
def test_search_keeps_its_episode_state_with_every_parser(parser):
    check_episode_state("turngym/MultiHopQA-v0", parser=parser)
