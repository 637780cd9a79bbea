"""Tiny in-memory tokenizers and Llama models for tests and benches (nothing is downloaded).

``tiny_tokenizer("bytes")`` is byte-level: ``decode(encode(text)) == text`` for any text.
``tiny_tokenizer("words", words)`` has a small WordLevel vocabulary (the given words, digits,
punctuation, whitespace and tags such as ``<answer>``), so that a random policy hits a short
action such as ``<answer>7</answer>`` with a few-percent chance. Both carry the ChatML special
tokens ``<|im_start|>``, ``<|im_end|>`` (eos) and ``<|endoftext|>`` (pad, bos) and a ChatML chat
template like SmolLM2's that also renders ``tools=`` into the system turn and assistant
``tool_calls`` as ``<tool_call>`` blocks.

>>> tok = tiny_tokenizer("words", ["hello"])
>>> tok.convert_ids_to_tokens(tok.encode("<answer>hello 7</answer>"))
['<answer>', 'hello', ' ', '7', '</answer>']
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Literal

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

IM_START, IM_END, PAD = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END)
TAGS = ("answer", "tool_call", "tool_response", "tools", "guess", "search", "information", "think")
TAG_TOKENS = tuple(t for name in TAGS for t in (f"<{name}>", f"</{name}>"))
# words the chat template itself writes, so that a "words" tokenizer encodes a rendered chat without <unk>
TEMPLATE_WORDS = ("system", "user", "assistant", "tool", "name", "arguments", "You", "may", "call", "these", "functions")
UNK = "<unk>"

CHAT_TEMPLATE = (
    "{%- if tools %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages and messages[0]['role'] == 'system' %}{{- messages[0]['content'] + '\\n\\n' }}{%- endif %}"
    "{{- 'You may call these functions:\\n<tools>' }}"
    "{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}"
    "{{- '\\n</tools><|im_end|>\\n' }}"
    "{%- elif messages and messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (loop.first and message['role'] == 'system') %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] %}{{- message['content'] }}{%- endif %}"
    "{%- for call in message.get('tool_calls') or [] %}"
    "{%- set fn = call['function'] if call['function'] is defined else call %}"
    "{%- set args = fn['arguments'] if fn['arguments'] is string else (fn['arguments'] | tojson) %}"
    "{{- '<tool_call>\\n{\"name\": ' + (fn['name'] | tojson) + ', \"arguments\": ' + args + '}\\n</tool_call>' }}"
    "{%- endfor %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def tiny_tokenizer(kind: Literal["bytes", "words"] = "bytes", words: Sequence[str] = ()) -> PreTrainedTokenizerFast:
    """A tokenizer built in memory: byte-level ("bytes") or a small word vocabulary ("words")."""
    if kind == "bytes":
        if words:
            raise ValueError(f"expected no words for a 'bytes' tokenizer, got {len(words)}")
        tokenizer = _byte_tokenizer()
    elif kind == "words":
        tokenizer = _word_tokenizer(words)
    else:
        raise ValueError(f"expected kind 'bytes' or 'words', got {kind!r}")
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=PAD,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token=UNK if kind == "words" else None,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
        model_max_length=1 << 16,
    )


def _byte_tokenizer() -> Tokenizer:
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {char: i for i, char in enumerate(sorted(alphabet, key=lambda c: _byte_of(c)))}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _byte_of(char: str) -> int:
    """The byte that GPT-2's byte-to-unicode table maps to ``char`` (so token id == byte value)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    if ord(char) in printable:
        return ord(char)
    others = [b for b in range(256) if b not in printable]
    return others[ord(char) - 256]


def _word_tokenizer(words: Sequence[str]) -> Tokenizer:
    for word in words:
        if not isinstance(word, str) or not word or not all(c.isalpha() or c == "_" for c in word):
            raise ValueError(f"expected words of letters and '_', got {word!r}")
    vocab: dict[str, int] = {}
    base = [UNK, *TAG_TOKENS, *TEMPLATE_WORDS, *words, *string.digits, *string.punctuation, " ", "\n"]
    for token in base:
        vocab.setdefault(token, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    pattern = Regex(r"[^\W\d]+|\d|\s|[^\w\s]|_")
    tokenizer.pre_tokenizer = pre_tokenizers.Split(pattern, behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    return tokenizer


def tiny_model(
    tokenizer: PreTrainedTokenizerFast, *, layers: int = 2, hidden: int = 64, heads: int = 4, seed: int = 0
) -> LlamaForCausalLM:
    """A randomly initialised fp32 Llama in eval mode; the same seed gives the same weights."""
    for name, value in (("layers", layers), ("hidden", hidden), ("heads", heads)):
        if value < 1:
            raise ValueError(f"expected {name} >= 1, got {value}")
    if hidden % heads or (hidden // heads) % 2:
        raise ValueError(f"expected hidden divisible by heads with an even head size, got hidden={hidden}, heads={heads}")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.to(torch.float32).eval()
