"""Tiny in-memory tokenizers and models: exact byte round trips, single-token tags, chat template, seeded weights."""

from __future__ import annotations

import pytest
import torch

from turngym.agents.tiny_lm import TAG_TOKENS, tiny_model, tiny_tokenizer

TOOLS = [
    {
        "type": "function",
        "function": {"name": "add", "description": "Add two numbers.", "parameters": {"type": "object", "properties": {}}},
    }
]
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 1 + 2?"},
    {
        "role": "assistant",
        "content": "Let me add.",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}],
    },
    {"role": "tool", "tool_call_id": "c1", "name": "add", "content": "3"},
]


@pytest.mark.parametrize("text", ["", "plain ascii", "héllo wörld 🙂\n\t  two  spaces", "<answer>42</answer>", "\x00\xff"])
def test_bytes_round_trip_is_exact(text):
    tok = tiny_tokenizer("bytes")
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) == len(text.encode("utf-8"))


def test_bytes_token_ids_are_byte_values_and_specials_are_single_tokens():
    tok = tiny_tokenizer("bytes")
    assert tok.encode("Az\n") == [ord("A"), ord("z"), ord("\n")]
    ids = tok.encode("<|im_start|>hi<|im_end|>")
    assert ids == [tok.convert_tokens_to_ids("<|im_start|>"), ord("h"), ord("i"), tok.eos_token_id]
    assert tok.decode(ids, skip_special_tokens=True) == "hi"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert len({tok.eos_token_id, tok.pad_token_id, tok.convert_tokens_to_ids("<|im_start|>")}) == 3


def test_words_tags_are_single_tokens_and_text_round_trips():
    tok = tiny_tokenizer("words", ["paris", "rome"])
    for tag in TAG_TOKENS:
        assert len(tok.encode(tag)) == 1, tag
    text = "<guess>37</guess>\n<answer>paris, rome!</answer>"
    tokens = tok.convert_ids_to_tokens(tok.encode(text))
    assert tokens[:5] == ["<guess>", "3", "7", "</guess>", "\n"]
    assert "paris" in tokens and "rome" in tokens
    assert tok.decode(tok.encode(text)) == text
    assert tok.convert_ids_to_tokens(tok.encode("london")) == ["<unk>"]


def test_words_vocabulary_is_small():
    tok = tiny_tokenizer("words", ["yes", "no"])
    assert len(tok) < 100


def test_bad_kind_and_words_raise():
    with pytest.raises(ValueError, match="expected kind 'bytes' or 'words', got 'chars'"):
        tiny_tokenizer("chars")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected words of letters"):
        tiny_tokenizer("words", ["two words"])
    with pytest.raises(ValueError, match="expected no words"):
        tiny_tokenizer("bytes", ["x"])


@pytest.mark.parametrize("kind", ["bytes", "words"])
def test_chat_template_renders_every_role_and_tools(kind):
    tok = tiny_tokenizer(kind, ["add"] if kind == "words" else ())
    text = tok.apply_chat_template(CONVERSATION, tools=TOOLS, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nBe brief.\n\n")
    assert '"name": "add"' in text.split("<|im_end|>")[0]  # the tools are in the system turn
    assert "<|im_start|>user\nWhat is 1 + 2?<|im_end|>\n" in text
    call = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
    assert f"<|im_start|>assistant\nLet me add.{call}<|im_end|>" in text
    assert "<|im_start|>tool\n3<|im_end|>\n" in text
    assert text.endswith("<|im_start|>assistant\n")
    assert text.count("<|im_start|>system") == 1


def test_chat_template_without_tools_or_system_and_is_prefix_stable():
    tok = tiny_tokenizer("bytes")
    short = tok.apply_chat_template(CONVERSATION[1:2], tokenize=False)
    assert short == "<|im_start|>user\nWhat is 1 + 2?<|im_end|>\n"
    longer = tok.apply_chat_template(CONVERSATION, tokenize=False)
    assert longer.startswith(tok.apply_chat_template(CONVERSATION[:2], tokenize=False))
    assert "<tools>" not in longer


def test_model_is_deterministic_from_seed_and_leaves_global_rng_alone():
    tok = tiny_tokenizer("bytes")
    state = torch.random.get_rng_state()
    a, b, c = tiny_model(tok, seed=3), tiny_model(tok, seed=3), tiny_model(tok, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    ids = torch.tensor([tok.encode("hello")])
    with torch.no_grad():
        la, lb, lc = (m(ids).logits for m in (a, b, c))
    assert torch.equal(la, lb)
    assert not torch.allclose(la, lc)
    assert la.shape == (1, 5, len(tok)) and la.dtype == torch.float32
    assert not a.training and a.config.num_hidden_layers == 2 and a.config.hidden_size == 64


def test_model_size_arguments_and_checks():
    tok = tiny_tokenizer("words", ["a"])
    model = tiny_model(tok, layers=1, hidden=32, heads=2)
    assert model.config.num_hidden_layers == 1 and model.config.hidden_size == 32
    assert model.config.vocab_size == len(tok) and model.config.eos_token_id == tok.eos_token_id
    with pytest.raises(ValueError, match="expected hidden divisible by heads"):
        tiny_model(tok, hidden=30, heads=4)
    with pytest.raises(ValueError, match="expected layers >= 1, got 0"):
        tiny_model(tok, layers=0)
