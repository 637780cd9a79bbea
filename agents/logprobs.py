"""Per-token log-probabilities of whole sequences (differentiable) and padding of token lists into a batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor


def pad_batch(
    seqs: Sequence[Sequence[int]],
    pad_id: int,
    side: Literal["left", "right"] = "right",
    *,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """Pad token lists to one ``[B, T]`` long tensor of ids and its attention mask (1 = token, 0 = padding)."""
    if side not in ("left", "right"):
        raise ValueError(f"expected side 'left' or 'right', got {side!r}")
    if len(seqs) == 0:
        raise ValueError("expected at least one sequence, got 0")
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        if len(seq) == 0:
            continue
        cols = slice(width - len(seq), width) if side == "left" else slice(0, len(seq))
        ids[row, cols] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, cols] = 1
    return ids.to(device), mask.to(device)


def position_ids_from_mask(attention_mask: Tensor) -> Tensor:
    """Positions that count only real tokens (``cumsum - 1``, clamped at 0), right for left or right padding."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def sequence_logprobs(model: torch.nn.Module, input_ids: Tensor, attention_mask: Tensor, *, temperature: float = 1.0) -> Tensor:
    """``[B, T]`` float32: entry t = log p(input_ids[t] | input_ids[<t]) under ``log_softmax(logits / temperature)``.

    Entry 0, padding and a sequence's first token (nothing before it) are 0. Differentiable through the
    model unless called under ``torch.no_grad``. Left or right padding both work (positions come from the mask).
    """
    if input_ids.dim() != 2 or attention_mask.shape != input_ids.shape:
        shapes = f"{tuple(input_ids.shape)} and {tuple(attention_mask.shape)}"
        raise ValueError(f"expected input_ids and attention_mask of one shape [B, T], got {shapes}")
    if not temperature > 0:
        raise ValueError(f"expected temperature > 0, got {temperature}")
    out = torch.zeros(input_ids.shape, dtype=torch.float32, device=input_ids.device)
    if input_ids.shape[1] < 2:
        return out
    logits = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids_from_mask(attention_mask), use_cache=False
    ).logits[:, :-1]
    logits = logits.float() / temperature
    targets = input_ids[:, 1:]
    token_logits = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    logprobs = token_logits - torch.logsumexp(logits, dim=-1)
    valid = (attention_mask[:, 1:] * attention_mask[:, :-1]).bool()
    return torch.cat([out[:, :1], torch.where(valid, logprobs, torch.zeros_like(logprobs))], dim=1)
