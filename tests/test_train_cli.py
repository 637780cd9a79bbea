"""`turngym train` end to end on a tiny config: metrics, curve, checkpoints, resume, kill -9, shipped configs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

import turngym.cli.train_cmd as train_cmd
from turngym.baselines.config import load_config
from turngym.baselines.metrics import read_metrics
from turngym.cli import app

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "baselines" / "configs").glob("*.yaml"))
TINY = [
    "env_id=turngym/Echo-v0",
    "tiny_words=[apple, river, stone, cloud, lemon, tiger, piano, rocket, echo]",
    "max_turns=2",
    "max_new_tokens=2",
    "group_size=2",
    "tasks_per_step=2",
    "eval_every=2",
    "eval_episodes=4",
    "tiny_hidden=16",
    "tiny_heads=2",
    "tiny_layers=1",
    "threads=1",
]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(train_cmd, "console", Console(width=200))


def _train(*args: str):
    return CliRunner().invoke(app, ["train", "--no-progress", *args], terminal_width=200)


def _sets(out_dir: Path, steps: int, *extra: str) -> list[str]:
    return [arg for pair in [*TINY, f"out_dir={out_dir}", f"steps={steps}", *extra] for arg in ("--set", pair)]


@pytest.mark.slow
def test_train_writes_metrics_curve_checkpoints_and_resumes(tmp_path):
    result = _train("--algo", "grpo", *_sets(tmp_path, 3))
    assert result.exit_code == 0, result.output
    assert "training GRPOConfig on turngym/Echo-v0 for 3 steps" in result.output
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert {"rollout/success", "reward/mean", "loss/policy", "loss/clip_fraction", "time/step_s"} <= set(records[0])
    assert "eval/success" in records[1] and "eval/success" in records[2]
    assert (tmp_path / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_000002", "step_000003"]
    assert (tmp_path / "final_model" / "config.json").is_file()
    assert load_config(tmp_path / "config.yaml").steps == 3

    resumed = _train("--algo", "grpo", *_sets(tmp_path, 5))
    assert resumed.exit_code == 0, resumed.output
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5]
    assert (tmp_path / "checkpoints" / "step_000005").is_dir()
    again = _train("--algo", "grpo", *_sets(tmp_path, 5))
    assert "nothing to do" in again.output
    fresh = _train("--algo", "grpo", "--no-resume", *_sets(tmp_path, 1))
    assert fresh.exit_code == 0, fresh.output
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1]
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step_000001"]


def test_reinforce_and_yaml_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("algo: reinforce_rebn\ngamma: 0.9\n")
    result = _train("--config", str(path), *_sets(tmp_path / "run", 2, "group_size=1"))
    assert result.exit_code == 0, result.output
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2] and "reward/return_mean" in records[0]


def test_bad_input_is_named(tmp_path):
    assert "expected an existing YAML file" in _train("--config", str(tmp_path / "nope.yaml")).output
    assert "got 'stepz'" in _train("--set", "stepz=1").output
    assert "expected --algo in" in _train("--algo", "ppo").output
    shown = _train("--show-config", "--algo", "reinforce_rebn")
    assert shown.exit_code == 0 and "gamma" in shown.output and "Discount per turn" in shown.output


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path, tmp_path):
    data = tmp_path / "oracle.jsonl"
    data.write_text("")
    config = load_config(path, ["model=tiny", f"data={data}"] if "sft" in path.name else ["model=tiny"])
    assert config.env_id.startswith("turngym/")


def _weights(out_dir: Path) -> dict[str, torch.Tensor]:
    newest = sorted((out_dir / "checkpoints").iterdir())[-1]
    return torch.load(newest / "weights.pt", weights_only=True)


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_without_losing_a_step(tmp_path):
    steps = 12
    command = [sys.executable, "-m", "turngym", "train", "--no-progress", "--algo", "grpo"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference = subprocess.run([*command, *_sets(tmp_path / "ref", steps)], env=env, capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]

    run_dir = tmp_path / "killed"
    process = subprocess.Popen([*command, *_sets(run_dir, steps)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (metrics.exists() and len(read_metrics(metrics)) >= 4):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(read_metrics(metrics))
    assert 4 <= done_before < steps, "expected the kill to land mid-run"
    checkpointed = int(sorted((run_dir / "checkpoints").glob("step_*"))[-1].name.split("_")[1])
    assert checkpointed >= done_before - 1  # at most the step being saved is lost

    resumed = subprocess.run([*command, *_sets(run_dir, steps)], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    records, expected = read_metrics(metrics), read_metrics(tmp_path / "ref" / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, steps + 1))
    for got, want in zip(records, expected, strict=True):
        assert got["reward/mean"] == want["reward/mean"] and got["loss/policy"] == pytest.approx(want["loss/policy"], abs=1e-6)
    for (name, a), b in zip(_weights(tmp_path / "ref").items(), _weights(run_dir).values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
