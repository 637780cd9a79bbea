"""A worker process that dies mid-training: its episode is reported with stop_reason="error", left out of the loss,
and the run goes on."""

from __future__ import annotations

import json

import crash_env  # registers tests/Crash-v0 (also inside spawned workers)
import pytest

from turngym.baselines.config import load_config
from turngym.baselines.metrics import read_metrics
from turngym.baselines.run import TrainingRun
from turngym.baselines.train import train


@pytest.mark.slow  # spawns worker processes (imports turngym in each)
def test_a_crashed_worker_mid_training_is_reported_and_left_out_of_the_loss(tmp_path, monkeypatch):
    trained_on: list[int] = []
    update = TrainingRun.update

    def counting_update(self, trajectories, advantages):
        trained_on.append(len(trajectories))
        return update(self, trajectories, advantages)

    monkeypatch.setattr(TrainingRun, "update", counting_update)
    overrides = [
        f"env_id={crash_env.ENV_ID}",
        "vec_mode=process",
        "tiny_words=[CRASH, hello]",
        "max_new_tokens=1",
        "max_turns=3",
        "group_size=2",
        "tasks_per_step=8",
        "steps=3",
        "eval_every=0",
        "tensorboard=false",
        "seed=1",
        f"out_dir={tmp_path}",
    ]
    train(load_config(None, overrides, algo="grpo"), progress=False)
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]  # the run went on
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert errors and all("worker" in e["error"] and e["step"] in (1, 2, 3) for e in errors)
    assert sum(r["rollout/errors"] for r in records) == len(errors)
    for record, count in zip(records, trained_on, strict=True):  # broken episodes never reach the loss
        assert count == record["rollout/episodes"] - record["rollout/errors"]
