"""``turngym train --ray local`` and ``turngym eval --ray local``: the same run as without Ray.

Each command runs as its own process (it starts a Ray cluster inside itself and leaves with it). The
GRPO run is the Echo learning proof's config (``baselines/configs/echo_grpo.yaml``) cut to a few
steps: same seeds, same sampling generator, so every step's rewards, success and loss must equal the
local run's, evaluation included; the learning proof's success on the local run then carries over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from learning_helpers import CONFIG

from turngym.baselines.metrics import read_metrics

pytest.importorskip("ray", reason="the Ray vector env needs the [ray] extra")
pytestmark = [pytest.mark.slow, pytest.mark.ray]


def turngym(*args: str) -> str:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    done = subprocess.run([sys.executable, "-m", "turngym", *args], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_train_through_ray_gives_the_local_run(tmp_path):
    common = ["train", "--config", str(CONFIG), "--no-progress", "--set", "steps=4", "--set", "eval_every=2"]
    common += ["--set", "eval_episodes=16", "--set", "tensorboard=false", "--set", "stop_at_eval_success=0"]
    turngym(*common, "--set", f"out_dir={tmp_path / 'local'}")
    turngym(*common, "--set", f"out_dir={tmp_path / 'ray'}", "--ray", "local")

    local, ray = (read_metrics(tmp_path / name / "metrics.jsonl") for name in ("local", "ray"))
    assert [r["step"] for r in ray] == [1, 2, 3, 4]
    for ours, theirs in zip(ray, local, strict=True):
        same = {k: v for k, v in ours.items() if not k.startswith(("time/", "env/", "perf/"))}
        assert same == {k: theirs[k] for k in same}, ours["step"]
    assert "eval/success" in ray[1] and "rollout/success" in ray[0]
    config = (tmp_path / "ray" / "config.yaml").read_text()
    assert "vec_mode: ray" in config and "ray_address: local" in config


def test_eval_through_ray_gives_the_local_records(tmp_path):
    common = ["eval", "--env", "turngym/GuessNumber-v0", "--policy", "scripted", "--seeds", "6", "--num-envs", "3"]
    turngym(*common, "--out", str(tmp_path / "local"))
    turngym(*common, "--out", str(tmp_path / "ray"), "--ray", "local")
    records = {}
    for name in ("local", "ray"):
        lines = (tmp_path / name / "episodes.jsonl").read_text().splitlines()
        records[name] = sorted((r["seed"], r["reward"], r["turns"], r["stop_reason"]) for r in map(json.loads, lines))
    assert len(records["ray"]) == 6 and records["ray"] == records["local"]
    assert all(stop == "answered" for *_, stop in records["ray"])


def test_ray_with_another_mode_is_refused():
    from typer.testing import CliRunner

    from turngym.cli import app

    args = ["eval", "--env", "turngym/Echo-v0", "--mode", "process", "--ray", "local"]
    result = CliRunner().invoke(app, args, terminal_width=200)
    text = " ".join(result.output.replace("│", " ").split())  # the message as one line, out of rich's box
    assert result.exit_code != 0 and "cannot go with --mode process" in text
