"""The examples in docstrings (env cards included) run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "turngym.envs.toolcalc.env",
    "turngym.envs.guess_number",
    "turngym.envs.spaces",
    "turngym.envs.wrappers",
    "turngym.envs.vector",
    "turngym.tools.core",
    "turngym.tools.calculator",
    "turngym.agents.scripted",
    "turngym.envs.search.env",
    "turngym.envs.search.multihop",
    "turngym.envs.search.wikiqa",
    "turngym.envs.search.metrics",
    "turngym.envs.search.shell",
    "turngym.envs.search.regex",
    "turngym.envs.search.grep_env",
    "turngym.envs.tooluse.env",
    "turngym.agents.hf_policy",
    "turngym.agents.tiny_lm",
    "turngym.tools.sandbox.base",
    "turngym.tools.sandbox.local",
    "turngym.tools.python_tool",
    "turngym.tools.sandbox.image",
    "turngym.envs.echo",
    "turngym.baselines.advantages",
    "turngym.envs.hooks.llm_judge",
    "turngym.tools.http_retry",
    "turngym.engine.play",
    "turngym.agents.base",
    "turngym.envs.memory.env",
    "turngym.envs.memory.streams",
    "turngym.evaluation.stats",
    "turngym.engine.dataset",
    "turngym.envs.model_calls",
    "turngym.envs.dialogue.users",
    "turngym.envs.dialogue.clarify",
    "turngym.envs.dialogue.support.env",
    "turngym.envs.dialogue.support.user_env",
    "turngym.envs.multiagent",
    pytest.param("turngym.envs.gui.miniwob", marks=pytest.mark.browser),
    pytest.param("turngym.envs.gui.webapp.env", marks=pytest.mark.browser),
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
