"""Every registered env passes every conformance check; registering an env adds it here."""

from __future__ import annotations

import pytest

import turngym
from turngym.envs.conformance import CHECKS, check_determinism, check_episode_state, check_fork

IDS = turngym.registered_ids()


def test_registry_holds_the_builtin_envs():
    assert {"turngym/ToolCalc-v0", "turngym/GuessNumber-v0"} <= set(IDS)


@pytest.mark.parametrize("check_name", list(CHECKS))
@pytest.mark.parametrize("env_id", IDS)
def test_conformance(env_id, check_name):
    CHECKS[check_name](env_id)


@pytest.mark.parametrize("parser", ["hermes", "openai", "tags"])
def test_toolcalc_conforms_with_every_parser(parser):
    check_determinism("turngym/ToolCalc-v0", parser=parser)
    check_fork("turngym/ToolCalc-v0", parser=parser)
    check_episode_state("turngym/ToolCalc-v0", parser=parser)


@pytest.mark.parametrize("parser", ["hermes", "openai"])
def test_search_keeps_its_episode_state_with_every_parser(parser):
    check_episode_state("turngym/MultiHopQA-v0", parser=parser)
