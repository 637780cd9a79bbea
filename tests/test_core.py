"""The AgentEnv contract: observations, malformed actions, budgets, stop reasons, info, fork, seeding."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import turngym
from turngym.envs import AgentEnv, ResetNeeded, StepInfo, StopReason, Task
from turngym.envs.fuzz import HUGE_ACTION
from turngym.envs.toolcalc import ToolCalcEnv


def call(name, **arguments):
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def test_reset_gives_system_prompt_with_tool_schemas_and_the_task(toolcalc):
    obs, info = toolcalc.reset(seed=0)
    assert [m["role"] for m in obs] == ["system", "user"]
    assert '"name": "lookup"' in obs[0]["content"] and '"name": "calculator"' in obs[0]["content"]
    assert "<tool_call>" in obs[0]["content"]
    assert obs[1]["content"].startswith("Start with the")
    assert set(info) == set(StepInfo.__annotations__)
    assert info["turn"] == 0 and info["stop_reason"] is None


def test_gym_make_returns_the_env_itself():
    env = gym.make("turngym/ToolCalc-v0")
    assert isinstance(env, AgentEnv) and env.unwrapped is env


def test_same_seed_same_task_different_seed_different_task(toolcalc):
    first = toolcalc.reset(seed=7)[0]
    again = toolcalc.reset(seed=7)[0]
    other = toolcalc.reset(seed=8)[0]
    assert first == again and first[1] != other[1]


def test_tool_call_answers_with_a_tool_message(toolcalc):
    toolcalc.reset(seed=0)
    plan = toolcalc.state.task.facts["plan"]
    item, field = plan[0]["arguments"]["item"], plan[0]["arguments"]["field"]
    obs, reward, terminated, truncated, info = toolcalc.step(call("lookup", item=item.upper(), field=field))
    expected = str(toolcalc.state.task.facts["table"][item][field])
    assert obs == [{"role": "tool", "tool_call_id": "call_1_0", "name": "lookup", "content": expected}]
    assert info["tool_calls"][0]["ok"] and info["error"] is None
    assert not terminated and not truncated and info["invalid_actions"] == 0


@pytest.mark.parametrize(
    ("action", "fragment"),
    [
        ("<tool_call>{bad json}</tool_call>", "not valid JSON"),
        (call("no_such_tool"), "no tool named 'no_such_tool'"),
        (call("calculator", expression=12), "expression"),
        (call("lookup", item="x", field="colour"), "field"),
        (HUGE_ACTION, "1,000,018 characters long; the limit is 32,768"),
        ("text with \ud800 a lone surrogate", "not valid unicode (U+D800 at position 10)"),
        ("just chatting", "found no tool call and no final answer"),
        (None, "got NoneType"),
        (b"bytes", "got bytes"),
        ({"role": "user", "content": "x"}, "role 'assistant'"),
    ],
)
def test_malformed_actions_are_error_observations(toolcalc, action, fragment):
    toolcalc.reset(seed=0)
    obs, reward, terminated, truncated, info = toolcalc.step(action)
    assert fragment in info["error"]
    assert fragment in obs[-1]["content"]
    assert info["invalid_actions"] == 1 and not terminated and not truncated


def test_error_observation_tells_the_expected_format(toolcalc):
    toolcalc.reset(seed=0)
    obs = toolcalc.step("hello")[0]
    assert obs[0]["role"] == "user" and '<tool_call>{"name": "<tool>"' in obs[0]["content"]


def test_a_tool_that_raises_is_a_tool_failure_not_an_invalid_action(toolcalc):
    toolcalc.reset(seed=0)
    obs, _, _, _, info = toolcalc.step(call("calculator", expression="1/0"))
    assert obs[0]["content"] == "Error (tool raised): calculator raised ValueError: division by zero"
    assert info["tool_calls"][0]["error_kind"] == "raised" and info["invalid_actions"] == 0


def test_episode_truncates_after_max_invalid_actions():
    env = turngym.make("turngym/ToolCalc-v0", max_invalid_actions=2)
    env.reset(seed=0)
    assert env.step("nonsense")[3] is False
    _, reward, terminated, truncated, info = env.step("more nonsense")
    assert (terminated, truncated, info["stop_reason"]) == (False, True, StopReason.INVALID_ACTIONS)
    assert info["reward_parts"] == {"outcome": 0.0} and reward == 0.0


def test_episode_truncates_at_max_turns(toolcalc):
    env = turngym.make("turngym/ToolCalc-v0", max_turns=2)
    env.reset(seed=0)
    env.step(call("calculator", expression="1+1"))
    _, _, terminated, truncated, info = env.step(call("calculator", expression="2+2"))
    assert (terminated, truncated, info["stop_reason"]) == (False, True, StopReason.MAX_TURNS)


def test_token_budget_truncates_with_its_own_stop_reason():
    env = turngym.make("turngym/ToolCalc-v0", token_budget=400, count_tokens=lambda text: len(text.split()))
    obs, _ = env.reset(seed=0)
    used = sum(len(m["content"].split()) for m in obs)
    assert used < 400
    _, _, _, truncated, info = env.step("word " * (400 - used))
    assert truncated and info["stop_reason"] == StopReason.TOKEN_BUDGET


def test_answer_terminates_with_outcome(toolcalc):
    toolcalc.reset(seed=0)
    answer = toolcalc.state.task.answer
    _, reward, terminated, truncated, info = toolcalc.step(f"<answer>{answer}</answer>")
    assert (terminated, truncated, info["stop_reason"]) == (True, False, StopReason.ANSWERED)
    assert info["reward_parts"] == {"outcome": 1.0} and reward == 1.0
    toolcalc.reset(seed=0)
    _, reward, terminated, _, info = toolcalc.step(f"<answer>{int(answer) + 1}</answer>")
    assert terminated and info["reward_parts"]["outcome"] == 0.0


def test_step_before_reset_and_after_the_end_raise():
    env = turngym.make("turngym/GuessNumber-v0")
    with pytest.raises(ResetNeeded, match="call reset"):
        env.step("<guess>1</guess>")
    with pytest.raises(ResetNeeded):
        env.fork()
    env.reset(seed=0)
    secret = env.state.task.facts["secret"]
    env.step(f"<guess>{secret}</guess>")
    with pytest.raises(ResetNeeded, match="episode ended"):
        env.step("<guess>1</guess>")


def test_observations_and_infos_are_fresh_objects(toolcalc):
    obs, info = toolcalc.reset(seed=0)
    obs[1]["content"] = "edited by the caller"
    info["reward_parts"]["x"] = 1.0
    assert toolcalc.state.messages[1]["content"] != "edited by the caller"
    obs2, _, _, _, info2 = toolcalc.step("x")
    obs2[0]["content"] = "edited"
    assert toolcalc.state.messages[-1]["content"] != "edited"


def test_openai_dict_action_with_tool_calls(toolcalc):
    toolcalc.reset(seed=0)
    action = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "abc", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'}}
        ],
    }
    obs, _, _, _, info = toolcalc.step(action)
    assert obs == [{"role": "tool", "tool_call_id": "abc", "name": "calculator", "content": "42"}]
    assert toolcalc.state.messages[-2]["tool_calls"][0]["id"] == "abc"


def test_history_holds_every_message_in_order(toolcalc):
    toolcalc.reset(seed=0)
    toolcalc.step(toolcalc.oracle_action())
    toolcalc.step("oops")
    roles = [m["role"] for m in toolcalc.state.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    json.dumps(toolcalc.state.messages)


def test_fork_is_independent_and_shares_tools(toolcalc):
    toolcalc.reset(seed=0)
    toolcalc.step(toolcalc.oracle_action())
    fork = toolcalc.fork()
    assert fork.tools is toolcalc.tools and fork.parser is toolcalc.parser
    before = list(toolcalc.state.messages)
    fork.step("garbage")
    fork.step(fork.oracle_action())
    assert toolcalc.state.messages == before and toolcalc.state.turn == 1
    assert fork.state.turn == 3 and fork.state.invalid_actions == 1
    # both continue to the correct answer on their own
    for env in (toolcalc, fork):
        terminated = False
        while not terminated:
            _, _, terminated, truncated, info = env.step(env.oracle_action())
            assert not truncated
        assert info["reward_parts"]["outcome"] == 1.0


def test_fork_copies_the_rng():
    env = turngym.make("turngym/GuessNumber-v0")
    env.reset(seed=0)
    fork = env.fork()
    assert env.np_random is not fork.np_random
    assert env.np_random.integers(10**9) == fork.np_random.integers(10**9)


def test_each_step_replaces_last_step_and_a_fork_starts_with_its_own(toolcalc):
    toolcalc.reset(seed=0)
    assert toolcalc.last_context is None and dict(toolcalc.step_metrics) == {}
    toolcalc.step(toolcalc.oracle_action())
    first = toolcalc.last_step
    context = toolcalc.last_context
    assert context.turn == 1 and context.tool_calls[0]["name"] == "lookup"
    with pytest.raises(TypeError):
        toolcalc.step_metrics["retrievals"] = 1  # read-only: a subclass writes last_step.metrics
    fork = toolcalc.fork()
    assert fork.last_step is not first and fork.last_context is None
    fork.step("garbage")
    assert toolcalc.last_step is first and toolcalc.last_context is context and context.action_error is None
    toolcalc.step(toolcalc.oracle_action())
    assert toolcalc.last_step is not first and toolcalc.last_context.turn == 2
    assert first.context is context  # an earlier step's record is left as it was
    toolcalc.reset(seed=1)
    assert toolcalc.last_context is None


def test_a_pending_prefetch_moves_into_the_next_step():
    env = _MinimalEnv()
    env.reset(seed=0)
    env.pending_prefetch = {"hits": {"q": ["d1"]}}
    fork = env.fork()
    assert fork.pending_prefetch is None  # the prefetch was done for the original's action
    env.step("no answer yet")
    assert env.last_step.prefetched == {"hits": {"q": ["d1"]}} and env.pending_prefetch is None
    env.step("still none")
    assert env.last_step.prefetched == {}


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_turns must be an int >= 1, got 0"):
        turngym.make("turngym/ToolCalc-v0", max_turns=0)
    with pytest.raises(ValueError, match="difficulty must be an int in 1..8"):
        turngym.make("turngym/ToolCalc-v0", difficulty=9)
    with pytest.raises(ValueError, match="unknown parser 'xml'"):
        turngym.make("turngym/ToolCalc-v0", parser="xml")
    with pytest.raises(ValueError, match="render_mode must be one of"):
        ToolCalcEnv(render_mode="human")


def test_extra_tools_are_offered_and_callable():
    from turngym.tools import tool

    @tool
    def double(x: int) -> int:
        """Double a number.

        Args:
            x: The number.
        """
        return 2 * x

    env = turngym.make("turngym/ToolCalc-v0", tools=[double])
    obs, _ = env.reset(seed=0)
    assert '"name": "double"' in obs[0]["content"]
    assert env.step(call("double", x=21))[0][0]["content"] == "42"


def test_render_ansi_shows_the_conversation():
    env = turngym.make("turngym/GuessNumber-v0", render_mode="ansi")
    env.reset(seed=0)
    env.step("<guess>50</guess>")
    text = env.render()
    assert "[system]" in text and "[assistant] <guess>50</guess>" in text


class _MinimalEnv(AgentEnv):
    """Smallest subclass: a task and nothing else."""

    def _make_task(self, options):
        return Task(id="t", prompt="Say yes.", answer="yes")


def test_a_minimal_subclass_gets_default_answer_scoring():
    env = _MinimalEnv()
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("<answer> yes </answer>")
    assert terminated and reward == 1.0
    assert info["stop_reason"] == "answered"
