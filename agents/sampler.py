"""Sample k continuations of each prompt, encoding and keeping each prompt's prefix once.

``StepSampler.sample`` left-pads the B prompts and prefills all but each prompt's last token in one
forward pass (positions from the attention mask). With ``tree=True`` (the default, for "sdpa" and
"eager" attention) each prompt keeps one cache row: the last prompt token is fed once, then the k
branches decode side by side in that row under a prefix-tree attention mask (``kv_cache.tree_mask``),
so each decode step reads the prefix's keys and values once per prompt. Otherwise the prefix cache
is copied to k rows (``batch_repeat_interleave``). Every row decodes until a stop string, eos or
``max_new_tokens``; finished rows leave the batch (``batch_select_indices``). The log-prob of each
sampled token is taken under ``log_softmax(logits / temperature)`` (top-p/top-k shape only the draw),
so it equals what ``sequence_logprobs`` recomputes. Draws are inverse-CDF with one uniform number per
sample per step from ``generator``, whatever the layout, so the layouts and the naive path
(``prefix_cache=False``: each of the B*k rows encodes its own full prompt; for benches) give the
same samples up to floating-point rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from turngym.agents.kv_cache import cache_argument, output_cache, supports_tree_mask, tree_mask, with_room
from turngym.agents.logprobs import pad_batch, position_ids_from_mask
from turngym.agents.trajectory import FinishReason, Sample


class StepSampler:
    """Batched sampling of k continuations per prompt from a causal LM, with exact per-token log-probs.

    ``temperature=0`` decodes greedily; its log-probs are then taken at temperature 1. ``tree=False``
    copies the prefix cache per branch instead of sharing one row (see the module docstring).
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
        tree: bool = True,
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
        self.tree = tree
        self.eos_ids = _eos_ids(model, tokenizer)
        self.cache_argument = cache_argument(model)
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
        if not self.prefix_cache:  # naive: each of the B*k rows encodes its own full prompt
            rows, repeat, branches = [r for r in rows for _ in range(k)], 1, 1
        elif k > 1 and self.tree and supports_tree_mask(self.model):  # one cache row per prompt, k branches in it
            repeat, branches = 1, k
        else:  # one cache row per branch, copied from the prompt's prefix
            repeat, branches = k, 1
        cache, mask, last = self._prefill(rows, repeat=repeat, room=limit * branches)
        flat = self._decode(cache, mask, last, branches, limit, stops, temp, generator)
        return [flat[i * k : (i + 1) * k] for i in range(len(prompts))]

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
            cache = with_room(output_cache(out), repeat, room)
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
        branches: int,
        limit: int,
        stops: tuple[str, ...],
        temperature: float,
        generator: torch.Generator | None,
    ) -> list[Sample]:
        """Decode ``branches`` samples per cache row; sample ``r * branches + j`` is row r's branch j."""
        rows, width = prefix_mask.shape
        n, device = rows * branches, last.device
        if branches > 1:
            mask = tree_mask(prefix_mask, branches, limit, self.model.dtype)
        else:
            mask = torch.cat([prefix_mask, torch.ones((rows, limit), dtype=prefix_mask.dtype, device=device)], dim=1)
        first_position = prefix_mask.sum(dim=1)  # each row's last prompt token
        live = torch.arange(rows, device=device)  # the cache rows still in the batch
        offsets = torch.arange(branches, device=device)
        tokens: list[list[int]] = [[] for _ in range(n)]
        logprobs: list[list[float]] = [[] for _ in range(n)]
        results: list[Sample | None] = [None] * n
        current = last.unsqueeze(1)
        for step in range(limit):
            queries = current.shape[1]
            if branches > 1:
                attention = mask[live, :, :queries, : width + 1 + step * branches]
            else:
                attention = mask[live, : width + step + 1]
            out = self.model(
                input_ids=current,
                attention_mask=attention,
                position_ids=(first_position[live] + step).unsqueeze(1).expand(-1, queries),
                use_cache=True,
                **{self.cache_argument: cache},
            )
            cache = output_cache(out)
            logits = out.logits.float().flatten(0, 1)
            if queries < branches:  # step 0 of a tree: one distribution per prompt, k draws from it
                logits = logits.repeat_interleave(branches, dim=0)
            samples = (live.unsqueeze(1) * branches + offsets).flatten()
            uniform = _uniforms(n, generator, device)[samples]  # n numbers each step, whatever is still live
            chosen, chosen_logprobs = self._choose(logits, temperature, uniform)
            picks = zip(samples.tolist(), chosen.tolist(), chosen_logprobs.tolist(), strict=True)
            for sample, token, logprob in picks:
                if results[sample] is not None:
                    continue  # finished, its row still in the batch
                tokens[sample].append(token)
                logprobs[sample].append(logprob)
                reason = self._finish(tokens[sample], stops, limit)
                if reason is not None:
                    results[sample] = self._make_sample(tokens[sample], logprobs[sample], reason)
            done = [all(results[r * branches + j] is not None for j in range(branches)) for r in live.tolist()]
            if all(done):
                break
            current = chosen.view(len(live), branches)
            if 4 * sum(done) >= len(live):  # drop finished rows once they are a quarter of the batch
                keep = torch.tensor([i for i, d in enumerate(done) if not d], dtype=torch.long, device=device)
                cache.batch_select_indices(keep)
                live, current = live[keep], current[keep]
        return [s for s in results if s is not None]

    def _choose(self, logits: Tensor, temperature: float, uniform: Tensor) -> tuple[Tensor, Tensor]:
        """Pick one token per row; return it and its log-prob under log_softmax(logits / temperature)."""
        if temperature == 0:
            logp = torch.log_softmax(logits, dim=-1)
            chosen = logits.argmax(dim=-1)
        else:
            logp = torch.log_softmax(logits / temperature, dim=-1)
            chosen = _draw(_filtered_probs(logp, self.top_p, self.top_k), uniform)
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


def _uniforms(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """``[n, 1]`` uniform numbers drawn on the generator's device (one float per sample moves to ``device``)."""
    source = generator.device if generator is not None else device
    return torch.rand((n, 1), generator=generator, device=source).to(device)


def _draw(probs: Tensor, uniform: Tensor) -> Tensor:
    """One inverse-CDF draw per row of unnormalised ``probs``, given one ``uniform`` number in [0, 1) per row."""
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
