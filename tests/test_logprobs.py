"""sequence_logprobs: equal to a direct per-sequence computation, padding-invariant, differentiable; pad_batch."""

from __future__ import annotations

import pytest
import torch

from turngym.agents.logprobs import pad_batch, sequence_logprobs
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def lm():
    tok = tiny_tokenizer("bytes")
    return tok, tiny_model(tok, seed=1)


def _direct(model, seq: list[int], temperature: float) -> torch.Tensor:
    """log p(seq[t] | seq[<t]) for one unpadded sequence, straight from the logits."""
    with torch.no_grad():
        logits = model(torch.tensor([seq])).logits[0].float() / temperature
    logp = torch.log_softmax(logits[:-1], dim=-1).gather(-1, torch.tensor(seq[1:]).unsqueeze(-1)).squeeze(-1)
    return torch.cat([torch.zeros(1), logp])


def test_pad_batch_left_and_right():
    ids, mask = pad_batch([[1, 2, 3], [4]], pad_id=9)
    assert ids.tolist() == [[1, 2, 3], [4, 9, 9]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = pad_batch([[1, 2, 3], [4]], pad_id=9, side="left")
    assert ids.tolist() == [[1, 2, 3], [9, 9, 4]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert ids.dtype == torch.long and mask.dtype == torch.long


def test_pad_batch_bad_input():
    with pytest.raises(ValueError, match="expected side 'left' or 'right', got 'middle'"):
        pad_batch([[1]], 0, side="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected at least one sequence, got 0"):
        pad_batch([], 0)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_padded_batch_equals_each_sequence_alone(lm, side, temperature):
    tok, model = lm
    seqs = [tok.encode("the quick brown fox"), tok.encode("hi"), tok.encode("jumps over the lazy dog, twice")]
    ids, mask = pad_batch(seqs, tok.pad_token_id, side=side)
    with torch.no_grad():
        got = sequence_logprobs(model, ids, mask, temperature=temperature)
    assert got.shape == ids.shape and got.dtype == torch.float32
    for row, seq in enumerate(seqs):
        real = got[row][mask[row].bool()]
        torch.testing.assert_close(real, _direct(model, seq, temperature), atol=1e-5, rtol=0)
        assert real[0] == 0
        assert torch.all(got[row][~mask[row].bool()] == 0)
        assert torch.all(real[1:] < 0)


def test_temperature_changes_the_values(lm):
    tok, model = lm
    ids, mask = pad_batch([tok.encode("some text here")], tok.pad_token_id)
    with torch.no_grad():
        assert not torch.allclose(sequence_logprobs(model, ids, mask), sequence_logprobs(model, ids, mask, temperature=0.5))


def test_differentiable(lm):
    tok, model = lm
    ids, mask = pad_batch([tok.encode("abc def"), tok.encode("g")], tok.pad_token_id, side="left")
    logprobs = sequence_logprobs(model, ids, mask)
    assert logprobs.requires_grad
    (-logprobs.sum()).backward()
    grad = model.lm_head.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_single_column_and_bad_input(lm):
    tok, model = lm
    ids, mask = pad_batch([[5], [6]], tok.pad_token_id)
    assert sequence_logprobs(model, ids, mask).tolist() == [[0.0], [0.0]]
    with pytest.raises(ValueError, match="expected temperature > 0, got 0"):
        sequence_logprobs(model, ids, mask, temperature=0)
    with pytest.raises(ValueError, match=r"expected input_ids and attention_mask of one shape \[B, T\], got \(2, 1\) and \(2,\)"):
        sequence_logprobs(model, ids, mask[:, 0])
