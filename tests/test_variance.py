"""bench/variance.py: its env lasts T steps with per-step rewards, and step-level advantages vary less."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "variance.py"


@pytest.fixture(scope="module")
def variance():
    spec = importlib.util.spec_from_file_location("bench_variance", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_pick_env_lasts_t_steps_with_a_reward_each_step(variance):
    env = variance.PickEnv(steps=3)
    env.reset(seed=5)
    targets = env.state.task.facts["targets"]
    rewards = []
    for t in range(3):
        letter = targets[t] if t != 1 else next(x for x in variance.LETTERS if x != targets[t])
        _obs, reward, terminated, truncated, info = env.step(f"<pick>{letter}</pick>")
        rewards.append(reward)
        assert terminated == (t == 2) and not truncated
    assert rewards == [1.0, 0.0, pytest.approx(1.0 + 2 / 3)]
    assert info["reward_parts"] == {"hit": 1.0, "outcome": pytest.approx(2 / 3)}


def test_step_level_siblings_branch_from_one_state_without_touching_it(variance):
    rng = np.random.default_rng(0)
    policy = variance.FixedPolicy.make(4, seed=0)
    point = variance.decision_points(4, 1, policy, rng)[0]
    turn, messages = point.env.state.turn, list(point.env.state.messages)
    for _ in range(5):
        variance.step_level_advantage(point, policy, 4, rng)
        variance.full_trajectory_advantage(point, policy, 4, rng)
    assert point.env.state.turn == turn and point.env.state.messages == messages


def test_step_level_advantages_vary_less_than_full_trajectory_ones(variance):
    row = variance.measure(steps=4, points=6, repeats=20, k=4, seed=1)
    assert row["var_full"] > 0 and row["var_step"] > 0
    assert row["ratio"] < 0.5
