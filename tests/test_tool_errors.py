"""Tool failures: boundaries named in the tool message, the failure rate in info, fatal errors, extra tools."""

from __future__ import annotations

import gymnasium as gym
import pytest

import turngym
from turngym.envs import StopReason
from turngym.envs.wrappers import WithTools
from turngym.tools import ToolError, tool


@tool
def flaky(mode: str) -> str:
    """Fail in the way asked for.

    Args:
        mode: "ok", "timeout", "sandbox", "fatal" or "crash".
    """
    if mode == "timeout":
        raise ToolError("ran for 2.0 s, the limit", kind="timeout")
    if mode == "sandbox":
        raise ToolError("the sandbox could not start", kind="sandbox")
    if mode == "fatal":
        raise ToolError("the backing service is gone", fatal=True)
    if mode == "crash":
        raise RuntimeError("boom")
    return "fine"


def call(mode: str) -> str:
    return f'<tool_call>{{"name": "flaky", "arguments": {{"mode": "{mode}"}}}}</tool_call>'


def make_env(**kwargs):
    return gym.make("turngym/ToolCalc-v0", tools=[flaky], **kwargs)


@pytest.mark.parametrize(
    ("mode", "label"),
    [("timeout", "Error (timeout)"), ("sandbox", "Error (sandbox)"), ("crash", "Error (tool raised)")],
)
def test_each_failure_names_its_boundary(mode, label):
    env = make_env()
    env.reset(seed=0)
    obs, _, terminated, truncated, info = env.step(call(mode))
    assert obs[0]["role"] == "tool" and obs[0]["content"].startswith(label)
    assert info["tool_calls"][0]["error_kind"] == {"crash": "raised"}.get(mode, mode)
    assert not (terminated or truncated)
    assert info["error"] is None  # a tool failure is not a malformed action
    assert info["invalid_actions"] == 0


def test_failure_rate_counts_every_kind_of_failed_call():
    env = make_env()
    _, info = env.reset(seed=0)
    assert info["tools/failure_rate"] == 0.0
    rates = []
    for action in [call("ok"), call("timeout"), '<tool_call>{"name": "nope", "arguments": {}}</tool_call>', call("ok")]:
        rates.append(env.step(action)[4]["tools/failure_rate"])
    assert rates == [0.0, 0.5, pytest.approx(2 / 3), 0.5]
    forked = env.fork()
    forked.step(call("crash"))
    assert env.step(call("ok"))[4]["tools/failure_rate"] == pytest.approx(2 / 5)  # the fork's failure is its own


def test_fatal_tool_error_ends_the_episode_with_stop_reason_error():
    env = make_env()
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(call("fatal"))
    assert truncated and not terminated
    assert info["stop_reason"] == StopReason.ERROR
    assert "the backing service is gone" in info["error"]
    assert info["reward_parts"]["outcome"] == 0.0
    assert obs[0]["content"].startswith("Error (tool raised)")


def test_fatal_tool_errors_lists_kinds_that_end_the_episode():
    env = make_env(fatal_tool_errors=("sandbox",))
    env.reset(seed=0)
    assert not env.step(call("timeout"))[3]
    _, _, _, truncated, info = env.step(call("sandbox"))
    assert truncated and info["stop_reason"] == StopReason.ERROR


@pytest.mark.parametrize("bad", ["sandbox", ("network",)])
def test_fatal_tool_errors_rejects_unknown_kinds(bad):
    with pytest.raises(ValueError, match="fatal_tool_errors must be a sequence of"):
        make_env(fatal_tool_errors=bad)


def test_tool_error_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        ToolError("x", kind="oops")


def test_extra_tools_reach_prompt_parser_and_schemas():
    env = make_env()
    obs, _ = env.reset(seed=0)
    assert '"name": "flaky"' in obs[0]["content"]
    assert [s["function"]["name"] for s in env.tool_schemas][-1] == "flaky"
    assert env.step(call("ok"))[0][0]["content"] == "fine"


def test_with_tools_wrapper_adds_tools_and_forks():
    env = WithTools(turngym.make("turngym/ToolCalc-v0", parser="tags"), [flaky])
    obs, _ = env.reset(seed=1)
    assert '"name": "flaky"' in obs[0]["content"]
    assert "flaky" in [s["function"]["name"] for s in env.tool_schemas]
    forked = env.fork()
    assert forked.step("<flaky>ok</flaky>")[0][0]["content"] == "fine"  # the env's tag parser knows the tool
    assert env.unwrapped.state.turn == 0


def test_with_tools_rejects_non_tools_and_name_clashes():
    with pytest.raises(TypeError, match="turngym Tool objects"):
        WithTools(turngym.make("turngym/GuessNumber-v0"), [lambda x: x])
    with pytest.raises(ValueError, match="tool names must be unique"):
        WithTools(make_env(), [flaky])
