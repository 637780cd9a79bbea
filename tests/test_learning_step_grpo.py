"""The learning proof for step-level GRPO: a tiny random model learns turngym/Echo-v0 to >= 0.9 success.

The run is the GRPO learning test's config (baselines/configs/echo_grpo.yaml: 4 words, 2 turns, one
sampled token per turn, 16 tasks per step) with ``algo=step_grpo``: one episode per task that
branches k = 8 siblings at each turn (GRPO plays 8 whole episodes per task), so both sample
8 * 16 actions per turn of the batch. Success is measured greedily on held-out seeds.
"""

from __future__ import annotations

import pytest
from learning_helpers import CONFIG, HELD_OUT, success, trained_policy

from turngym.baselines.config import load_config
from turngym.baselines.metrics import read_metrics
from turngym.baselines.run import build_policy
from turngym.baselines.step_grpo import StepGRPOConfig, train_step_grpo

STEP_LEVEL = ["group_size=1", "k=8"]


@pytest.mark.slow
def test_step_grpo_learns_echo_from_a_random_tiny_model(tmp_path):
    overrides = [f"out_dir={tmp_path}", "tensorboard=false", "stop_at_eval_success=0.9", "checkpoint_every=0", *STEP_LEVEL]
    config = load_config(CONFIG, overrides, algo="step_grpo")
    assert isinstance(config, StepGRPOConfig) and config.k == 8
    untrained = build_policy(config)
    assert success(untrained, config, HELD_OUT, temperature=1.0) < 0.15  # a random policy: a few percent
    assert success(untrained, config, HELD_OUT, temperature=0.0) < 0.3

    train_step_grpo(config)

    records = read_metrics(tmp_path / "metrics.jsonl")
    evals = [(r["step"], r["eval/success"]) for r in records if "eval/success" in r]
    assert evals[-1][1] >= 0.9, f"eval success by step: {evals}"
    assert records[0]["rollout/success"] < 0.2
    assert all(r["rollout/step_groups"] >= config.tasks_per_step for r in records)  # every turn branched k ways
    assert success(trained_policy(config, tmp_path), config, HELD_OUT, temperature=0.0) >= 0.85
