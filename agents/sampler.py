"""Sample k continuations of each prompt, encoding each prompt's prefix once (a shared KV cache).

``StepSampler.sample`` left-pads the B prompts, prefills all but each prompt's last token in one
forward pass, repeats that ``DynamicCache`` k times (``batch_repeat_interleave``) and decodes the
B*k rows in one batched loop, each row until a stop string, eos or ``max_new_tokens``; finished rows
leave the batch (``batch_select_indices``). The log-prob of each sampled token is taken under
``log_softmax(logits / temperature)`` (top-p/top-k shape only the draw), so it equals what
``sequence_logprobs`` recomputes. ``prefix_cache=False`` is the naive path for benches: every one of
the B*k rows encodes its own full prompt; it consumes the random generator in the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from transformers.cache_utils import DynamicLayer

from turngym.agents.logprobs import pad_batch, position_ids_from_mask

FinishReason = Literal["stop", "eos", "length"]


@dataclass
class Sample:
    """One sampled continuation: tokens exactly as sampled (up to and including the stop/eos token)."""

    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: FinishReason


class StepSampler:
    """Batched sampling of k continuations per prompt from a causal LM, with exact per-token log-probs.

    ``temperature=0`` decodes greedily; its log-probs are then taken at temperature 1.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        stop: Sequence[str] = (),
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        prefix_cache: bool = True,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.stop = _check_stop(stop)
        self.max_new_tokens = _check_max_new_tokens(max_new_tokens)
        self.temperature = _check_temperature(temperature)
        if not 0 < top_p <= 1:
            raise ValueError(f"expected top_p in (0, 1], got {top_p}")
        if not isinstance(top_k, int) or top_k < 0:
            raise ValueError(f"expected top_k an int >= 0 (0 = off), got {top_k!r}")
        self.top_p = top_p
        self.top_k = top_k
        self.prefix_cache = prefix_cache
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)

    @torch.no_grad()
    def sample(
        self,
        prompts: Sequence[Sequence[int]],
        k: int = 1,
        *,
        generator: torch.Generator | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        temperature: float | None = None,
    ) -> list[list[Sample]]:
        """B prompts (token ids) -> B lists of k samples."""
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"expected k an int >= 1, got {k!r}")
        rows = self._check_prompts(prompts)
        limit = self.max_new_tokens if max_new_tokens is None else _check_max_new_tokens(max_new_tokens)
        stops = self.stop if stop is None else _check_stop(stop)
        temp = self.temperature if temperature is None else _check_temperature(temperature)
        if self.prefix_cache:
            cache, mask, last = self._prefill(rows, repeat=k, room=limit)
        else:
            cache, mask, last = self._prefill([r for r in rows for _ in range(k)], repeat=1, room=limit)
        flat = self._decode(cache, mask, last, limit, stops, temp, generator)
        return [flat[i * k : (i + 1) * k] for i in range(len(rows))]

    def greedy(
        self, prompts: Sequence[Sequence[int]], *, max_new_tokens: int | None = None, stop: Sequence[str] | None = None
    ) -> list[Sample]:
        """One argmax continuation per prompt (log-probs at temperature 1)."""
        return [s[0] for s in self.sample(prompts, 1, max_new_tokens=max_new_tokens, stop=stop, temperature=0.0)]

    # ---- prefill -------------------------------------------------------------------------------
    def _prefill(self, rows: list[list[int]], repeat: int, room: int) -> tuple[object | None, Tensor, Tensor]:
        """Encode all but each row's last token once; return (cache, mask, last tokens), all with ``len(rows) * repeat`` rows."""
        device = self.model.device
        prefix_ids, prefix_mask = pad_batch([r[:-1] for r in rows], self.pad_id, side="left", device=device)
        last = torch.tensor([r[-1] for r in rows], dtype=torch.long, device=device)
        cache = None
        if prefix_ids.shape[1] > 0:
            out = self.model(
                input_ids=prefix_ids,
                attention_mask=prefix_mask,
                position_ids=position_ids_from_mask(prefix_mask),
                use_cache=True,
                logits_to_keep=1,
            )
            cache = _with_room(out.past_key_values, repeat, room)
        if repeat > 1:
            prefix_mask = prefix_mask.repeat_interleave(repeat, dim=0)
            last = last.repeat_interleave(repeat, dim=0)
        return cache, prefix_mask, last

    # ---- decode --------------------------------------------------------------------------------
    def _decode(
        self,
        cache: object | None,
        prefix_mask: Tensor,
        last: Tensor,
        limit: int,
        stops: tuple[str, ...],
        temperature: float,
        generator: torch.Generator | None,
    ) -> list[Sample]:
        n, width = prefix_mask.shape
        device = last.device
        mask = torch.cat([prefix_mask, torch.ones((n, limit), dtype=prefix_mask.dtype, device=device)], dim=1)
        positions = prefix_mask.sum(dim=1)  # the position of each row's next input token
        active = torch.arange(n, device=device)  # original row of each batch row
        tokens: list[list[int]] = [[] for _ in range(n)]
        logprobs: list[list[float]] = [[] for _ in range(n)]
        results: list[Sample | None] = [None] * n
        current = last
        for step in range(limit):
            out = self.model(
                input_ids=current.unsqueeze(1),
                attention_mask=mask[active, : width + step + 1],
                position_ids=positions.unsqueeze(1),
                past_key_values=cache,
                use_cache=True,
            )
            cache = out.past_key_values
            logits = out.logits[:, -1].float()
            chosen, chosen_logprobs = self._choose(logits, temperature, generator)
            keep: list[int] = []
            picks = zip(active.tolist(), chosen.tolist(), chosen_logprobs.tolist(), strict=True)
            for i, (row, token, logprob) in enumerate(picks):
                if results[row] is not None:
                    continue  # finished, still in the batch until the next compaction
                tokens[row].append(token)
                logprobs[row].append(logprob)
                reason = self._finish(tokens[row], stops, limit)
                if reason is None:
                    keep.append(i)
                else:
                    results[row] = self._make_sample(tokens[row], logprobs[row], reason)
            if not keep:
                break
            if 4 * (len(active) - len(keep)) >= len(active):  # drop finished rows once they are a quarter of the batch
                index = torch.tensor(keep, dtype=torch.long, device=device)
                cache.batch_select_indices(index)
                active, chosen, positions = active[index], chosen[index], positions[index]
            current = chosen
            positions = positions + 1
        return [s for s in results if s is not None]

    def _choose(self, logits: Tensor, temperature: float, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Pick one token per row; return it and its log-prob under log_softmax(logits / temperature)."""
        if temperature == 0:
            logp = torch.log_softmax(logits, dim=-1)
            chosen = logits.argmax(dim=-1)
        else:
            logp = torch.log_softmax(logits / temperature, dim=-1)
            chosen = _draw(_filtered_probs(logp, self.top_p, self.top_k), generator)
        return chosen, logp.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)

    def _finish(self, tokens: list[int], stops: tuple[str, ...], limit: int) -> FinishReason | None:
        if tokens[-1] in self.eos_ids:
            return "eos"
        if stops:
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            if any(s in text for s in stops):
                return "stop"
        return "length" if len(tokens) >= limit else None

    def _make_sample(self, tokens: list[int], logprobs: list[float], reason: FinishReason) -> Sample:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return Sample(token_ids=list(tokens), logprobs=list(logprobs), text=text, finish_reason=reason)

    def _check_prompts(self, prompts: Sequence[Sequence[int]]) -> list[list[int]]:
        if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence) or len(prompts) == 0:
            raise ValueError(f"expected a non-empty sequence of prompts (lists of token ids), got {prompts!r:.80}")
        vocab = self.model.get_input_embeddings().num_embeddings
        rows = []
        for i, prompt in enumerate(prompts):
            row = prompt.tolist() if isinstance(prompt, Tensor) else list(prompt) if isinstance(prompt, Sequence) else None
            if not row or isinstance(prompt, (str, bytes)):
                raise ValueError(f"expected prompt {i} a non-empty list of token ids, got {prompt!r:.80}")
            bad = [t for t in row if not isinstance(t, int) or not 0 <= t < vocab]
            if bad:
                raise ValueError(f"expected prompt {i} of token ids in [0, {vocab}), got {bad[0]!r}")
            rows.append(row)
        return rows


class _RoomyLayer(DynamicLayer):
    """A ``DynamicLayer`` with spare room: a decode step writes into it instead of concatenating the whole cache."""

    def __init__(self, keys: Tensor, values: Tensor, repeat: int, room: int) -> None:
        super().__init__()
        self.dtype, self.device = keys.dtype, keys.device
        self.length = keys.shape[-2]
        self.is_initialized = True
        self._keys, self._values = (self._repeated(t, repeat, room) for t in (keys, values))
        self._views()

    def _repeated(self, cached: Tensor, repeat: int, room: int) -> Tensor:
        """``cached.repeat_interleave(repeat, 0)`` written into a buffer with ``room`` free positions, in one copy."""
        rows, heads, length, dim = cached.shape
        buffer = cached.new_empty((rows, repeat, heads, length + room, dim))
        buffer[:, :, :, :length] = cached.unsqueeze(1)
        return buffer.view(rows * repeat, heads, length + room, dim)

    def _views(self) -> None:
        self.keys = self._keys[:, :, : self.length]
        self.values = self._values[:, :, : self.length]

    def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> tuple[Tensor, Tensor]:
        new = key_states.shape[-2]
        if self.length + new > self._keys.shape[-2]:
            grow = max(new, 64)
            self._keys = torch.cat(
                [self._keys, self._keys.new_empty((*self._keys.shape[:2], grow, self._keys.shape[-1]))], dim=-2
            )
            self._values = torch.cat(
                [self._values, self._values.new_empty((*self._values.shape[:2], grow, self._values.shape[-1]))], dim=-2
            )
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


def _with_room(cache, repeat: int, room: int):
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
            layers[i] = _RoomyLayer(layer.keys, layer.values, repeat, room)
        elif repeat > 1:
            layer.batch_repeat_interleave(repeat)
    return cache


def _filtered_probs(logp: Tensor, top_p: float, top_k: int) -> Tensor:
    """Probabilities with everything outside the top-k and the top-p nucleus set to 0 (not renormalised)."""
    probs = logp.exp()
    if top_k and top_k < probs.shape[-1]:
        kth = probs.topk(top_k, dim=-1).values[:, -1:]
        probs = torch.where(probs >= kth, probs, torch.zeros_like(probs))
    if top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the tokens ranked above each token
        inside = before < top_p * sorted_probs.sum(-1, keepdim=True)
        sorted_probs = torch.where(inside, sorted_probs, torch.zeros_like(sorted_probs))
        sorted_probs[:, 0] = sorted_probs[:, 0].clamp(min=torch.finfo(sorted_probs.dtype).tiny)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return probs


def _draw(probs: Tensor, generator: torch.Generator | None) -> Tensor:
    """One inverse-CDF draw per row from unnormalised ``probs``: one uniform number per row from ``generator``.

    The numbers are drawn on the generator's device (a CPU generator works for a CUDA model at the cost of
    moving one float per row), so every device consumes the generator in the same way.
    """
    device = generator.device if generator is not None else probs.device
    uniform = torch.rand((probs.shape[0], 1), generator=generator, device=device).to(probs.device)
    cdf = probs.cumsum(dim=-1)
    picked = torch.searchsorted(cdf, uniform * cdf[:, -1:], right=True).clamp(max=probs.shape[-1] - 1)
    usable = probs.gather(-1, picked) > 0  # rounding at the top end could land on a token outside top-p/top-k
    return torch.where(usable, picked, probs.argmax(dim=-1, keepdim=True)).squeeze(-1)


def _eos_ids(model: torch.nn.Module, tokenizer) -> frozenset[int]:
    ids: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if not ids:
        raise ValueError("expected a tokenizer or model with an eos token id, got none")
    return frozenset(ids)


def _check_stop(stop: Sequence[str]) -> tuple[str, ...]:
    if isinstance(stop, str) or not all(isinstance(s, str) and s for s in stop):
        raise ValueError(f"expected stop a sequence of non-empty strings, got {stop!r}")
    return tuple(stop)


def _check_max_new_tokens(value: int) -> int:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"expected max_new_tokens an int >= 1, got {value!r}")
    return value


def _check_temperature(value: float) -> float:
    if not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"expected temperature >= 0 (0 = greedy), got {value!r}")
    return float(value)
