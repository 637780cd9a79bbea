"""policy_update: micro-batching is exact, advantages move log-probs the right way, KL references."""

from __future__ import annotations

import copy

import pytest
import torch

import turngym
from turngym.agents.hf_policy import HFPolicy, with_lora
from turngym.agents.logprobs import pad_batch, sequence_logprobs
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.baselines.update import policy_update
from turngym.engine import Engine
from turngym.envs.echo import ECHO_WORDS


@pytest.fixture(scope="module")
def batch():
    tokenizer = tiny_tokenizer("words", [*ECHO_WORDS, "echo"])
    policy = HFPolicy(tiny_model(tokenizer, layers=1, hidden=32, heads=2, seed=1), tokenizer, max_new_tokens=3)
    with turngym.make_vec("turngym/Echo-v0", 6, max_turns=2) as vec:
        episodes = Engine(vec, policy).play(range(6), generator=torch.Generator().manual_seed(0))
    return policy.model, tokenizer, [e.trajectory for e in episodes]


def _policy_logprob_sums(model, tokenizer, trajectories):
    ids, attention = pad_batch([t.token_ids for t in trajectories], tokenizer.pad_token_id)
    mask = torch.zeros(ids.shape)
    for row, t in enumerate(trajectories):
        mask[row, : len(t)] = torch.tensor(t.mask, dtype=torch.float32)
    with torch.no_grad():
        return (sequence_logprobs(model, ids, attention) * mask).sum(dim=1)


def _update(model, trajectories, advantages, pad_id, **kwargs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    return policy_update(model, optimizer, trajectories, advantages, pad_id=pad_id, max_grad_norm=0.0, **kwargs)


def test_micro_batches_give_the_same_update_as_one_batch(batch):
    model, tokenizer, trajectories = batch
    advantages = torch.tensor([1.0, -1.0, 0.5, 0.0, -0.5, 2.0])
    whole, split = copy.deepcopy(model), copy.deepcopy(model)
    stats = _update(whole, trajectories, advantages, tokenizer.pad_token_id, micro_batch=64)
    _update(split, trajectories, advantages, tokenizer.pad_token_id, micro_batch=1)
    for (name, a), b in zip(whole.state_dict().items(), split.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name
    assert stats["loss/tokens"] == sum(t.policy_token_count() for t in trajectories)
    assert stats["loss/ratio_mean"] == pytest.approx(1.0, abs=1e-4)  # old log-probs are the sampling ones


def test_advantages_raise_and_lower_log_probs(batch):
    model, tokenizer, trajectories = batch
    updated = copy.deepcopy(model)
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    before = _policy_logprob_sums(model, tokenizer, trajectories)
    _update(updated, trajectories, advantages, tokenizer.pad_token_id)
    change = _policy_logprob_sums(updated, tokenizer, trajectories) - before
    assert (change[advantages > 0] > 0).all() and (change[advantages < 0] < 0).all()


def test_per_token_advantages_are_accepted_and_checked(batch):
    model, tokenizer, trajectories = batch
    per_token = [torch.ones(len(t)) for t in trajectories]
    stats = _update(copy.deepcopy(model), trajectories, per_token, tokenizer.pad_token_id)
    assert stats["loss/policy"] < 0
    with pytest.raises(ValueError, match="per-token advantage"):
        _update(copy.deepcopy(model), trajectories, [torch.ones(2)] * len(trajectories), tokenizer.pad_token_id)
    with pytest.raises(ValueError, match="one advantage entry per trajectory"):
        _update(copy.deepcopy(model), trajectories, torch.ones(2), tokenizer.pad_token_id)


def test_kl_to_a_frozen_copy_and_to_the_lora_base(batch):
    model, tokenizer, trajectories = batch
    advantages = torch.zeros(len(trajectories))
    with pytest.raises(ValueError, match="needs ref_model"):
        _update(copy.deepcopy(model), trajectories, advantages, tokenizer.pad_token_id, kl_coef=0.1)
    stats = _update(copy.deepcopy(model), trajectories, advantages, tokenizer.pad_token_id, kl_coef=0.1, ref_model=model)
    assert stats["loss/kl"] == pytest.approx(0.0, abs=1e-6)
    lora = with_lora(copy.deepcopy(model), {"r": 2, "target_modules": ["q_proj", "v_proj"], "init_lora_weights": False})
    stats = _update(lora, trajectories, advantages, tokenizer.pad_token_id, kl_coef=0.1, ref_model=lora.disable_adapter)
    assert stats["loss/kl"] > 0  # the adapter moved the model away from its base
