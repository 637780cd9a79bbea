"""turngym.adapters.trl: the generated tool methods, the reward function and the dataset, and TRL's
real GRPOTrainer training a tiny model for two steps on turngym/ToolCalc-v0 through the adapter."""

from __future__ import annotations

import doctest
import inspect
import math
from typing import Literal

import pytest
import torch

import turngym
import turngym.adapters.trl
from turngym.adapters.trl import (
    AdapterError,
    tool_method,
    turngym_dataset,
    turngym_environment_factory,
    turngym_reward,
)
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer

ENV_ID = "turngym/ToolCalc-v0"
CALL = '\n{"name": "calculator", "arguments": {"expression": "2 + 3"}}\n'  # between <tool_call> tags
ANSWER = "<answer>5</answer>"


def tool_methods(environment):
    """The methods TRL shows the model as tools, found the way GRPOTrainer finds them."""
    names = [n for n, _ in inspect.getmembers(type(environment), predicate=inspect.isfunction)]
    return {n: getattr(environment, n) for n in names if n not in ("reset", "get_reward") and not n.startswith("_")}


def test_module_examples_run():
    result = doctest.testmod(turngym.adapters.trl, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_tool_methods_mirror_the_env_tools():
    environment = turngym_environment_factory(ENV_ID)()
    methods = tool_methods(environment)
    assert sorted(methods) == ["answer", "calculator", "lookup"]
    lookup = methods["lookup"]
    assert str(inspect.signature(lookup)) == "(*, item: str, field: Literal['price', 'stock', 'weight']) -> str"
    assert lookup.__doc__.startswith("Look up a number in the catalogue.\n\nArgs:\n    item: The item's name")
    assert inspect.signature(methods["answer"]).parameters["answer"].annotation in (str, "str")


def test_transformers_reads_the_env_schema_back():
    from transformers.utils import get_json_schema

    environment = turngym_environment_factory("turngym/ToolUse-v0")()
    env = turngym.make("turngym/ToolUse-v0")
    for schema in env.tool_schemas:
        got = get_json_schema(tool_methods(environment)[schema["function"]["name"]])["function"]
        want = schema["function"]
        assert got["description"] == want["description"]
        assert got["parameters"]["required"] == want["parameters"]["required"]
        for arg, spec in want["parameters"]["properties"].items():
            assert got["parameters"]["properties"][arg] == {"type": spec["type"], "description": spec["description"]}


def test_a_tool_call_steps_the_env_and_returns_its_output():
    environment = turngym_environment_factory(ENV_ID)()
    assert environment.reset(seed=3, prompt=[{"role": "user", "content": "..."}]) is None
    env = turngym.make(ENV_ID)
    messages, _ = env.reset(seed=3)
    oracle = env.oracle_action()  # a lookup of the task's first item
    expected, reward, _, _, info = env.step(oracle)
    call = env.parser.parse(oracle).tool_calls[0]
    assert environment.lookup(**call.arguments) == expected[0]["content"]
    assert environment.reward == reward > 0
    assert environment.reward_parts == info["reward_parts"] and info["reward_parts"]["valid_tool_call"] == 1.0
    assert len(environment.actions) == 1 and not environment.done


def test_bad_arguments_come_back_as_an_error_text():
    environment = turngym_environment_factory(ENV_ID)()
    environment.reset(seed=0)
    output = environment.lookup(item="Zorbin", colour="red")
    assert output.startswith("Error (tool arguments): invalid arguments for lookup")
    assert "colour" in output and environment.reward_parts["valid_tool_call"] == 0.0


def test_answer_ends_the_episode_and_later_calls_get_an_error_text():
    environment = turngym_environment_factory(ENV_ID)()
    environment.reset(seed=0)
    environment.answer("123456")
    assert environment.done and environment.stop_reason == "answered"
    assert environment.reward_parts["outcome"] == 0.0
    assert environment.calculator(expression="1 + 1").startswith("Error: the episode is over (answered)")
    environment.reset(seed=0)
    assert not environment.done and environment.reward == 0.0 and environment.actions == []


def test_guess_number_answers_with_its_own_tag():
    environment = turngym_environment_factory("turngym/GuessNumber-v0")()
    text = environment.reset()
    assert "Guess it" in text and environment.seed == 0
    assert environment.answer("50") in ("Higher.", "Lower.", "The episode is over (answered).")
    assert environment.actions == ["<guess>50</guess>"]


def test_rows_without_a_seed_take_increasing_seeds():
    factory = turngym_environment_factory(ENV_ID, first_seed=5)
    first, second = factory(), factory()
    first.reset(), second.reset(), first.reset()
    assert (first.seed, second.seed) == (7, 6)


def test_reward_finishes_running_episodes_with_the_final_text():
    factory = turngym_environment_factory(ENV_ID)
    environments = [factory() for _ in range(3)]
    for environment in environments:
        environment.reset(seed=1)
    env = turngym.make(ENV_ID)
    env.reset(seed=1)
    while "<answer>" not in (right := env.oracle_action()):  # the oracle's final text answer
        env.step(right)
    completions = [
        [{"role": "assistant", "content": right}],
        [{"role": "assistant", "content": "", "tool_calls": [{"type": "function"}]}, {"role": "tool", "content": "5"}],
        right,
    ]
    environments[2].answer("0")  # already over: the final text is not stepped
    logged = {}
    rewards = turngym_reward(environments, completions, log_metric=logged.__setitem__)
    assert rewards == [environments[0].reward, 0.0, 0.0]
    assert environments[0].reward_parts["outcome"] == 1.0 and rewards[0] > 0
    assert not environments[1].done and environments[2].actions == ["<answer>0</answer>"]
    assert logged["turngym/outcome"] == pytest.approx(1 / 3)
    with pytest.raises(TypeError, match="expected environments made by turngym_environment_factory"):
        turngym_reward([object()], None)


def test_dataset_rows_hold_the_reset_messages_and_seeds():
    dataset = turngym_dataset(ENV_ID, 3, first_seed=10)
    env = turngym.make(ENV_ID)
    assert dataset["seed"] == [10, 11, 12]
    assert dataset[1]["prompt"] == env.reset(seed=11)[0]
    with pytest.raises(ValueError, match="expected n >= 1 rows, got 0"):
        turngym_dataset(ENV_ID, 0)


def test_tool_names_that_cannot_be_methods_are_refused():
    schema = {"type": "function", "function": {"name": "reward", "parameters": {"properties": {}}}}
    with pytest.raises(AdapterError, match="got 'reward'"):
        tool_method("x", schema)
    schema = {"type": "function", "function": {"name": "f", "parameters": {"properties": {"a": {"$ref": "#/x"}}}}}
    with pytest.raises(AdapterError, match=r"x: f\(a\): expected a JSON schema type"):
        tool_method("x", schema)
    hinted = tool_method("x", {"function": {"name": "f", "parameters": {"properties": {"a": {"enum": [1, 2]}}}}})
    assert inspect.signature(hinted).parameters["a"].annotation == Literal[1, 2] | None


def bigram_model(tokenizer, transitions: dict[str, dict[str, float]]):
    """A tiny Llama that samples the next token from ``transitions[last token]`` (from eos after any
    other token): attention and MLP write nothing, so the last token's embedding alone picks the logits."""
    model = tiny_model(tokenizer)
    hidden = model.config.hidden_size
    if len(transitions) >= hidden:
        raise ValueError(f"expected fewer than {hidden} tokens with transitions, got {len(transitions)}")
    logits = torch.full((len(tokenizer), hidden), -30.0)
    logits[tokenizer.eos_token_id, 0] = 0.0  # row 0: every other token is followed by eos
    with torch.no_grad():
        model.model.embed_tokens.weight.zero_()
        model.model.embed_tokens.weight[:, 0] = 1.0
        for row, (token, following) in enumerate(transitions.items(), start=1):
            token_id = tokenizer.convert_tokens_to_ids(token)
            model.model.embed_tokens.weight[token_id] = torch.nn.functional.one_hot(torch.tensor(row), hidden)
            for follower, p in following.items():
                logits[tokenizer.convert_tokens_to_ids(follower), row] = math.log(p)
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.lm_head.weight.copy_(logits / math.sqrt(hidden))  # the final norm scales a one-hot row to sqrt(hidden)
    return model


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers renames gradient_checkpointing, which TRL sets
def test_trl_grpo_trainer_trains_two_steps_on_toolcalc(tmp_path, monkeypatch):
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen3_template

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    tokenizer = tiny_tokenizer("words", ["calculator", "expression", "lookup", "item", "field", "price"])
    tokenizer.add_tokens([CALL, ANSWER])
    tokenizer.response_template = qwen3_template  # our ChatML template writes Qwen's <tool_call> blocks
    model = bigram_model(  # after the assistant header ("\n"): a calculator call, an answer, or nothing
        tokenizer,
        {
            "\n": {"<tool_call>": 0.5, ANSWER: 0.3, tokenizer.eos_token: 0.2},
            "<tool_call>": {CALL: 1.0},
            CALL: {"</tool_call>": 1.0},
        },
    )

    head_before = model.lm_head.weight.detach().clone()
    factory = turngym_environment_factory(ENV_ID)
    calls = {"reset": 0, "step": 0}
    reset, step = factory.reset, factory._step

    def counted_reset(self, **row):
        calls["reset"] += 1
        return reset(self, **row)

    def counted_step(self, action):
        calls["step"] += 1
        return step(self, action)

    monkeypatch.setattr(factory, "reset", counted_reset)
    monkeypatch.setattr(factory, "_step", counted_step)
    seen, tool_outputs = [], []

    def reward(environments, **kwargs):
        rewards = turngym_reward(environments, **kwargs)
        seen.append([(e.seed, list(e.actions), r) for e, r in zip(environments, rewards, strict=True)])
        tool_outputs.extend(m["content"] for c in kwargs["completions"] for m in c if m["role"] == "tool")
        return rewards

    args = GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        max_steps=2,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=24,
        max_tool_calling_iterations=2,
        beta=0.0,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=args,
        train_dataset=turngym_dataset(ENV_ID, 8),
        processing_class=tokenizer,
        environment_factory=factory,
    )
    trainer.train()

    assert trainer.state.global_step == 2
    assert calls["reset"] == 16  # 2 steps x 2 prompts x 4 generations
    assert calls["step"] == sum(len(actions) for batch in seen for _, actions, _ in batch) > 8
    assert len(seen) == 2 and all(len(batch) == 8 for batch in seen)
    for batch in seen:  # each reward is the episode's replayed on a fresh env with the same seed and actions
        for seed, actions, got in batch:
            env = turngym.make(ENV_ID)
            env.reset(seed=seed)
            assert got == pytest.approx(sum(env.step(a)[1] for a in actions))
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logs) == 2
    for entry, batch in zip(logs, seen, strict=True):
        assert entry["reward"] == pytest.approx(sum(r for *_, r in batch) / len(batch))
    assert any(r > 0 for batch in seen for *_, r in batch)
    assert any(entry["tools/call_frequency"] > 0 for entry in logs)
    assert tool_outputs and set(tool_outputs) == {"5"}  # the env's calculator answered 2 + 3 in the prompt
    stepped = [a for batch in seen for _, actions, _ in batch for a in actions]
    assert ANSWER in stepped  # a final text answer reached the env through turngym_reward
    assert not torch.equal(model.lm_head.weight, head_before)  # the two steps trained the model


def test_an_episode_whose_env_broke_gets_no_reward_so_trl_leaves_it_out():
    import crash_env  # registers tests/Crash-v0

    Crash = turngym_environment_factory(crash_env.ENV_ID)
    broken, fine = Crash(), Crash()
    broken.reset(seed=0)
    fine.reset(seed=1)
    assert "environment failed" in broken._step("RAISE")
    fine._step(f"<answer>{fine.env.unwrapped.state.task.answer}</answer>")
    assert broken.done and broken.stop_reason == "error"
    assert turngym_reward([broken, fine]) == [None, 1.0]
