"""A LoRA run exports its adapter alone and the merged model, which loads like any model folder."""

from __future__ import annotations

import torch
from peft import PeftModel
from typer.testing import CliRunner

from turngym.agents.hf_policy import HFPolicy
from turngym.agents.tiny_lm import tiny_model
from turngym.cli import app

LORA_RUN = [
    "env_id=turngym/Echo-v0",
    "env_kwargs={words: [apple, river, stone, cloud]}",
    "tiny_words=[apple, river, stone, cloud]",
    "max_turns=2",
    "tiny_tokenizer=words",
    "max_new_tokens=1",
    "group_size=4",
    "tasks_per_step=8",
    "steps=2",
    "lr=0.05",
    "eval_every=0",
    "tiny_hidden=16",
    "tiny_heads=2",
    "tiny_layers=1",
    "lora={r: 4, lora_alpha: 8, target_modules: [q_proj, v_proj]}",
]


def test_lora_run_exports_adapter_and_merged_model(tmp_path):
    sets = [arg for pair in [*LORA_RUN, f"out_dir={tmp_path}"] for arg in ("--set", pair)]
    result = CliRunner().invoke(app, ["train", "--no-progress", "--algo", "grpo", *sets], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "final_adapter" / "adapter_config.json").is_file()
    assert not (tmp_path / "final_model" / "adapter_config.json").exists()

    merged = HFPolicy.from_pretrained(tmp_path / "final_model", device="cpu")
    base = tiny_model(merged.tokenizer, layers=1, hidden=16, heads=2, seed=0)  # the run's model before training
    adapted = PeftModel.from_pretrained(base, tmp_path / "final_adapter")
    trained_b = [p for name, p in adapted.named_parameters() if "lora_B" in name]
    assert trained_b and any(p.abs().max() > 0 for p in trained_b)  # lora_B starts at 0: the adapter was trained

    ids = torch.tensor([merged.tokenizer.encode("apple river stone cloud")])
    with torch.no_grad():
        assert torch.allclose(merged.model(ids).logits, adapted(ids).logits, atol=1e-5)
