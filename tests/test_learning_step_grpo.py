"""The learning proof for step-level GRPO: a tiny random model learns turngym/Echo-v0 to >= 0.9 success.

The run is the GRPO learning test's config (baselines/configs/echo_grpo.yaml: 4 words, 2 turns, one
sampled token per turn, 16 tasks per step) with ``algo=step_grpo``: one episode per task that
branches k = 8 siblings at each turn (GRPO plays 8 whole episodes per task), so both sample
8 * 16 actions per turn of the batch. Success is measured greedily on held-out seeds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from turngym.baselines.config import load_config
from turngym.baselines.metrics import read_metrics
from turngym.baselines.rollout import collect_episodes
from turngym.baselines.run import EVAL_SEED_BASE, build_policy, make_envs
from turngym.baselines.step_grpo import StepGRPOConfig, train_step_grpo

CONFIG = Path(__file__).resolve().parents[1] / "baselines" / "configs" / "echo_grpo.yaml"
STEP_LEVEL = ["group_size=1", "k=8"]


def _success(policy, config, seeds, temperature):
    envs = make_envs(config, len(seeds))
    episodes = collect_episodes(
        policy, envs, seeds, max_turns=config.max_turns, temperature=temperature, generator=torch.Generator().manual_seed(1)
    )
    return sum(e.success for e in episodes) / len(episodes)


@pytest.mark.slow
def test_step_grpo_learns_echo_from_a_random_tiny_model(tmp_path):
    overrides = [f"out_dir={tmp_path}", "tensorboard=false", "stop_at_eval_success=0.9", "checkpoint_every=0", *STEP_LEVEL]
    config = load_config(CONFIG, overrides, algo="step_grpo")
    assert isinstance(config, StepGRPOConfig) and config.k == 8
    held_out = [EVAL_SEED_BASE + 10_000 + i for i in range(128)]
    untrained = build_policy(config)
    assert _success(untrained, config, held_out, temperature=1.0) < 0.15  # a random policy: a few percent
    assert _success(untrained, config, held_out, temperature=0.0) < 0.3

    train_step_grpo(config)

    records = read_metrics(tmp_path / "metrics.jsonl")
    evals = [(r["step"], r["eval/success"]) for r in records if "eval/success" in r]
    assert evals[-1][1] >= 0.9, f"eval success by step: {evals}"
    assert records[0]["rollout/success"] < 0.2
    assert all(r["rollout/step_groups"] >= config.tasks_per_step for r in records)  # every turn branched k ways
    trained = build_policy(config)
    trained.model.load_state_dict(torch.load(sorted((tmp_path / "checkpoints").iterdir())[-1] / "weights.pt"))
    assert _success(trained, config, held_out, temperature=0.0) >= 0.85
