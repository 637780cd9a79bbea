"""Incremental chat-template tokens: the pieces add up to the template's rendering of the whole conversation."""

from __future__ import annotations

import pytest

import turngym
from turngym.agents.chat_tokens import (
    ChatTemplateError,
    assistant_closing,
    continuation_ids,
    encode,
    map_tool_messages,
    prompt_ids,
    render,
    template_renders_tools,
)
from turngym.agents.tiny_lm import tiny_tokenizer

# SmolLM2-135M-Instruct's own template (as its GGUF file carries it): no tool role, ignores tools=
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer("bytes")


def play_oracle(tokenizer, *, tools=None, tool_role="template", emit_eos=False, seed=0):
    """Tokens built turn by turn, and the messages of the ToolCalc episode the oracle played."""
    env = turngym.make("turngym/ToolCalc-v0", difficulty=3)
    obs, _ = env.reset(seed=seed)
    messages = list(obs)
    ids = prompt_ids(tokenizer, messages, tools, tool_role=tool_role)
    done = False
    while not done:
        action = env.unwrapped.oracle_action()
        action_ids = encode(tokenizer, action) + ([tokenizer.eos_token_id] if emit_eos else [])
        ids += action_ids
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
        history = [*messages, {"role": "assistant", "content": action}]
        ids += continuation_ids(
            tokenizer, history, obs, tools, after_policy_action=True, action_ids=action_ids, tool_role=tool_role
        )
        messages = [*history, *obs]
    env.close()
    return ids, messages


@pytest.mark.parametrize("tool_role", ["template", "user"])
@pytest.mark.parametrize("emit_eos", [False, True])
def test_turn_by_turn_tokens_decode_to_the_whole_rendering(tok, tool_role, emit_eos):
    ids, messages = play_oracle(tok, tool_role=tool_role, emit_eos=emit_eos)
    assert sum(m["role"] == "tool" for m in messages) == 3
    expected = render(tok, messages, add_generation_prompt=True, tool_role=tool_role)
    assert tok.decode(ids) == expected
    assert ids == encode(tok, expected)  # no merges in the byte tokenizer: even the ids agree


def test_tool_messages_as_user_turns_name_the_tool(tok):
    _, messages = play_oracle(tok, tool_role="user")
    text = render(tok, messages, tool_role="user")
    assert "<|im_start|>tool" not in text
    assert "<|im_start|>user\n[lookup] " in text
    assert "<|im_start|>tool\n" in render(tok, messages)
    with pytest.raises(ValueError, match="expected tool_role in"):
        map_tool_messages(messages, "system")


def test_closing_is_found_from_the_template(tok):
    assert assistant_closing(tok) == "<|im_end|>\n"
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a\n"}]
    new = [{"role": "user", "content": "more"}]
    text_end = encode(tok, "a\n")  # a text newline is the action's own, not the closing's
    assert tok.decode(continuation_ids(tok, history, new, after_policy_action=True, action_ids=text_end)).startswith(
        "<|im_end|>\n<|im_start|>user"
    )
    eos_end = [*text_end, tok.eos_token_id]  # stopped at eos: only the newline is left to close the turn
    assert tok.decode(continuation_ids(tok, history, new, after_policy_action=True, action_ids=eos_end)).startswith(
        "\n<|im_start|>user"
    )
    with pytest.raises(ValueError, match="does not end with an assistant message"):
        continuation_ids(tok, history[:1], new, after_policy_action=True)


def test_template_that_rewrites_the_past_is_refused_with_the_difference():
    tok = tiny_tokenizer("bytes")
    tok.chat_template = "{{ messages | length }}{% for m in messages %}|{{ m['content'] }}{% endfor %}"
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    with pytest.raises(ChatTemplateError, match=r"renders the conversation so far differently.*expected '2\|q\|a', got '3\|q\|a"):
        continuation_ids(tok, history, [{"role": "user", "content": "x"}], after_policy_action=False)


def test_tools_go_to_the_template_or_into_the_system_prompt(tok):
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert template_renders_tools(tok)
    assert '"name": "lookup"' in render(tok, messages, [tool]) and "You can call these tools" not in render(tok, messages, [tool])
    smol = tiny_tokenizer("bytes")
    smol.chat_template = SMOLLM2_TEMPLATE
    assert not template_renders_tools(smol)
    text = render(smol, messages, [tool])
    assert text.startswith("<|im_start|>system\nBe brief.\n\nYou can call these tools:\n{") and '"lookup"' in text
    no_system = render(smol, messages[1:], [tool])
    assert no_system.startswith("<|im_start|>system\nYou can call these tools:") and "SmolLM" not in no_system


def test_smollm2_template_renders_tool_messages_incrementally(tok):
    smol = tiny_tokenizer("bytes")
    smol.chat_template = SMOLLM2_TEMPLATE
    for tool_role in ("template", "user"):
        ids, messages = play_oracle(smol, tool_role=tool_role, emit_eos=True)
        assert smol.decode(ids) == render(smol, messages, add_generation_prompt=True, tool_role=tool_role)


def test_missing_or_failing_template_is_a_clear_error():
    bare = tiny_tokenizer("bytes")
    bare.chat_template = None
    with pytest.raises(ChatTemplateError, match="expected a tokenizer with a chat template"):
        prompt_ids(bare, [{"role": "user", "content": "hi"}])
    strict = tiny_tokenizer("bytes")
    strict.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('no tools') }}{% endif %}{% endfor %}"
    )
    with pytest.raises(ChatTemplateError, match=r"failed to render the messages \(tool_role='user'.*no tools"):
        render(strict, [{"role": "tool", "name": "t", "content": "1", "tool_call_id": "c"}])
