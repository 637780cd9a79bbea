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
