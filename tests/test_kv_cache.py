"""KV-cache pieces of the sampler: the prefix-tree mask and the cache layer with spare room."""

from __future__ import annotations

import pytest
import torch

from turngym.agents.kv_cache import RoomyLayer, tree_mask, with_room
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer


def test_tree_mask_shows_each_branch_the_prefix_and_its_own_tokens():
    prefix = torch.tensor([[0, 1, 1], [1, 1, 1]])
    mask = tree_mask(prefix, branches=2, steps=3, dtype=torch.float32)
    assert mask.shape == (2, 1, 2, 3 + 1 + 2 * 2)
    visible = (mask == 0).squeeze(1).int().tolist()
    # columns: 3 prefix slots | last prompt token | step 1 of branches 0, 1 | step 2 of branches 0, 1
    assert visible[0] == [[0, 1, 1, 1, 1, 0, 1, 0], [0, 1, 1, 1, 0, 1, 0, 1]]
    assert visible[1] == [[1, 1, 1, 1, 1, 0, 1, 0], [1, 1, 1, 1, 0, 1, 0, 1]]
    assert mask.min() == torch.finfo(torch.float32).min


def test_roomy_layer_repeats_grows_selects_and_crops():
    keys = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).view(2, 1, 3, 2)
    layer = RoomyLayer(keys, -keys, repeat=2, room=1)
    assert torch.equal(layer.keys, keys.repeat_interleave(2, 0)) and torch.equal(layer.values, -layer.keys)
    new = torch.full((4, 1, 2, 2), 7.0)
    out_keys, _ = layer.update(new, new)  # 2 tokens > room 1: the buffer grows
    assert out_keys.shape == (4, 1, 5, 2) and torch.equal(out_keys[:, :, 3:], new)
    assert layer.get_seq_length() == 5
    layer.batch_select_indices(torch.tensor([3, 0]))
    assert torch.equal(layer.keys[:, :, :3], keys[[1, 0]])
    layer.crop(-2)
    assert layer.get_seq_length() == 3
    with pytest.raises(ValueError, match="expected a negative number of tokens to remove, got 1"):
        layer.crop(1)


def test_with_room_keeps_the_model_output():
    tok = tiny_tokenizer("bytes")
    model = tiny_model(tok, seed=5)
    ids = torch.tensor([tok.encode("shared prefix text")])
    with torch.no_grad():
        cache = model(input_ids=ids[:, :-1], use_cache=True).past_key_values
        cache = with_room(cache, repeat=3, room=4)
        assert all(isinstance(layer, RoomyLayer) for layer in cache.layers)
        step = model(input_ids=ids[:, -1:].repeat(3, 1), past_key_values=cache, use_cache=True).logits[:, -1]
        full = model(input_ids=ids).logits[:, -1]
    torch.testing.assert_close(step, full.repeat(3, 1), atol=1e-5, rtol=0)


def test_sliding_window_models_take_the_copies_layout_and_still_match_a_recompute():
    from transformers import MistralConfig, MistralForCausalLM

    from turngym.agents.kv_cache import supports_tree_mask
    from turngym.agents.logprobs import pad_batch, sequence_logprobs
    from turngym.agents.sampler import StepSampler

    tok = tiny_tokenizer("bytes")
    assert supports_tree_mask(tiny_model(tok))
    config = MistralConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, sliding_window=6, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MistralForCausalLM(config).eval()
    assert not supports_tree_mask(model)
    prompts = [tok.encode("a longer prompt than the window"), tok.encode("hi")]
    results = StepSampler(model, tok, max_new_tokens=10).sample(prompts, k=3, generator=torch.Generator().manual_seed(0))
    pairs = [(p, s) for p, samples in zip(prompts, results, strict=True) for s in samples]
    ids, mask = pad_batch([p + s.token_ids for p, s in pairs], tok.pad_token_id)
    with torch.no_grad():
        full = sequence_logprobs(model, ids, mask)
    for row, (prompt, sample) in enumerate(pairs):
        got = full[row, len(prompt) : len(prompt) + len(sample.token_ids)]
        torch.testing.assert_close(got, torch.tensor(sample.logprobs), atol=1e-4, rtol=0)
