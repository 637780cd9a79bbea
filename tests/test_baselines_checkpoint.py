"""Checkpoints: weights, optimizer, RNG states and step round-trip; atomic folders; pruning; LoRA adapters."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.baselines.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint


def _model_and_optimizer(seed: int = 0):
    model = tiny_model(tiny_tokenizer("words", ["apple"]), layers=1, hidden=16, heads=2, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.randint(0, 20, (2, 6), generator=torch.Generator().manual_seed(seed))
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    return model, optimizer


def test_round_trip_restores_weights_optimizer_rng_and_step(tmp_path):
    model, optimizer = _model_and_optimizer()
    generator = torch.Generator().manual_seed(5)
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    path = save_checkpoint(tmp_path, 7, model, optimizer, config={"lr": 0.01}, generators={"sampling": generator}, extra={"a": 1})
    expected = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))

    other, other_opt = _model_and_optimizer(seed=1)
    torch.manual_seed(99)
    other_generator = torch.Generator().manual_seed(99)
    state = load_checkpoint(path, other, other_opt, generators={"sampling": other_generator})
    assert state == {"step": 7, "extra": {"a": 1}}
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert other_opt.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    got = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=other_generator))
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert got[2] == expected[2] and torch.equal(got[3], expected[3])
    assert (path / "config.yaml").read_text().startswith("lr: 0.01")


def test_latest_ignores_temporary_folders_and_pruning_keeps_the_newest(tmp_path):
    model, optimizer = _model_and_optimizer()
    assert latest_checkpoint(tmp_path) is None
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model, optimizer, keep=2)
    root = tmp_path / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["step_000002", "step_000003"]
    (root / ".tmp-step_000004-1").mkdir()  # a save killed half way
    (root / "step_000009").mkdir()  # a folder without trainer_state.pt is not a checkpoint
    assert latest_checkpoint(tmp_path) == root / "step_000003"
    save_checkpoint(tmp_path, 4, model, optimizer, keep=2)
    assert not (root / ".tmp-step_000004-1").exists()


def test_loading_full_weights_into_a_lora_model_is_refused(tmp_path):
    peft = pytest.importorskip("peft")
    model, optimizer = _model_and_optimizer()
    path = save_checkpoint(tmp_path, 1, model, optimizer)
    lora = peft.get_peft_model(_model_and_optimizer()[0], peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    with pytest.raises(ValueError, match="holds full weights"):
        load_checkpoint(path, lora)


def test_lora_checkpoints_hold_only_the_adapter(tmp_path):
    peft = pytest.importorskip("peft")
    config = peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = peft.get_peft_model(_model_and_optimizer()[0], config)
    path = save_checkpoint(tmp_path, 3, model, None)
    saved = torch.load(path / "weights.pt", weights_only=True)
    assert saved and all("lora_" in k for k in saved)
    fresh = peft.get_peft_model(_model_and_optimizer()[0], peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    load_checkpoint(path, fresh)
    ids = torch.tensor([[1, 2, 3, 4]])
    assert torch.allclose(model(input_ids=ids).logits, fresh(input_ids=ids).logits)
