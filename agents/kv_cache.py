"""KV-cache pieces for the sampler: a cache layer with spare room, and the attention mask of a prefix tree.

A prefix tree row holds one prompt's prefix once, then the k branches' tokens interleaved (step 1 of
branches 0..k-1, step 2 of branches 0..k-1, ...); ``tree_mask`` lets each branch see the prefix and
its own tokens only. Decoding k branches then reads the shared prefix once per step, not k times.
Custom 4D masks reach the attention function unchanged in transformers 5 (``masking_utils``); the
"sdpa" and "eager" implementations take an additive float mask, flash-attention ones do not.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor
from transformers.cache_utils import DynamicLayer

TREE_ATTENTION = ("sdpa", "eager")  # attention implementations that take a custom 4D float mask


def supports_tree_mask(model: torch.nn.Module) -> bool:
    """Whether a prefix tree can decode on ``model``: full attention in every layer, through "sdpa" or "eager"."""
    config = getattr(model, "config", None)
    layer_types = getattr(config, "layer_types", None) or ()
    return (
        getattr(config, "_attn_implementation", "eager") in TREE_ATTENTION
        and not getattr(config, "sliding_window", None)
        and all(t == "full_attention" for t in layer_types)
    )


class RoomyLayer(DynamicLayer):
    """A ``DynamicLayer`` with spare room: an update writes into it instead of concatenating the whole cache."""

    def __init__(self, keys: Tensor, values: Tensor, repeat: int, room: int) -> None:
        super().__init__()
        self.dtype, self.device = keys.dtype, keys.device
        self.length = keys.shape[-2]
        self.is_initialized = True
        self._keys, self._values = (_repeated(t, repeat, room) for t in (keys, values))
        self._views()

    def _views(self) -> None:
        self.keys = self._keys[:, :, : self.length]
        self.values = self._values[:, :, : self.length]

    def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> tuple[Tensor, Tensor]:
        new = key_states.shape[-2]
        if self.length + new > self._keys.shape[-2]:
            self._keys, self._values = (_grown(t, max(new, 64)) for t in (self._keys, self._values))
        self._keys[:, :, self.length : self.length + new] = key_states
        self._values[:, :, self.length : self.length + new] = value_states
        self.length += new
        self._views()
        return self.keys, self.values

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError(f"expected a negative number of tokens to remove, got {tokens_to_remove}")
        self.length = max(0, self.length + tokens_to_remove)
        self._views()

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._keys, self._values = self._keys.repeat_interleave(repeats, 0), self._values.repeat_interleave(repeats, 0)
        self._views()

    def batch_select_indices(self, indices: Tensor) -> None:
        self._keys, self._values = self._keys[indices], self._values[indices]
        self._views()

    def reorder_cache(self, beam_idx: Tensor) -> None:
        self.batch_select_indices(beam_idx.to(self._keys.device))


def _repeated(cached: Tensor, repeat: int, room: int) -> Tensor:
    """``cached.repeat_interleave(repeat, 0)`` written into a buffer with ``room`` free positions, in one copy."""
    rows, heads, length, dim = cached.shape
    buffer = cached.new_empty((rows, repeat, heads, length + room, dim))
    buffer[:, :, :, :length] = cached.unsqueeze(1)
    return buffer.view(rows * repeat, heads, length + room, dim)


def _grown(buffer: Tensor, extra: int) -> Tensor:
    return torch.cat([buffer, buffer.new_empty((*buffer.shape[:2], extra, buffer.shape[-1]))], dim=-2)


def with_room(cache, repeat: int, room: int):
    """Repeat each row of a fresh prefill cache ``repeat`` times, its plain layers given room for ``room`` more tokens.

    Layers of another kind (sliding windows, linear attention) keep their own ``batch_repeat_interleave``.
    """
    layers = getattr(cache, "layers", None)
    if layers is None:
        if repeat > 1:
            cache.batch_repeat_interleave(repeat)
        return cache
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer and layer.is_initialized and layer.keys is not None and layer.keys.dim() == 4:
            layers[i] = RoomyLayer(layer.keys, layer.values, repeat, room)
        elif repeat > 1:
            layer.batch_repeat_interleave(repeat)
    return cache


def tree_mask(prefix_mask: Tensor, branches: int, steps: int, dtype: torch.dtype) -> Tensor:
    """``[rows, 1, branches, width + 1 + (steps - 1) * branches]`` additive mask of a prefix tree row.

    Columns: the left-padded prefix (``prefix_mask``, width columns), the last prompt token (fed once, at
    step 0), then one column per branch per later step. Branch j sees the real prefix tokens, the last
    prompt token and its own columns ``width + 1 + s * branches + j``. Slice the key columns to the cache length.
    """
    rows, width = prefix_mask.shape
    visible = torch.zeros((rows, branches, width + 1 + (steps - 1) * branches), dtype=torch.bool, device=prefix_mask.device)
    visible[:, :, :width] = prefix_mask.bool().unsqueeze(1)
    visible[:, :, width] = True
    if steps > 1:
        visible[:, :, width + 1 :] = torch.eye(branches, dtype=torch.bool, device=prefix_mask.device).repeat(1, steps - 1)
    mask = torch.zeros(visible.shape, dtype=dtype, device=prefix_mask.device).masked_fill(~visible, torch.finfo(dtype).min)
    return mask.unsqueeze(1)


def cache_argument(model: Any) -> str:
    """The name the model's ``forward`` takes its KV cache by: ``cache`` (transformers 5.x) or ``past_key_values``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wraps forward in **kwargs
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def output_cache(out: Any) -> Any:
    """The KV cache a forward pass returned, under either name."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values
