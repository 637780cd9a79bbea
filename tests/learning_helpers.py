"""What the learning proofs share: the Echo run's config, held-out seeds, and greedy success of a policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from turngym.baselines.run import EVAL_SEED_BASE, build_policy, make_vec_env
from turngym.engine import Engine

CONFIG = Path(__file__).resolve().parents[1] / "baselines" / "configs" / "echo_grpo.yaml"
HELD_OUT = [EVAL_SEED_BASE + 10_000 + i for i in range(128)]
"""Seeds no training step or evaluation draws."""


def success(policy: Any, config: Any, seeds: list[int], temperature: float) -> float:
    """Share of ``seeds`` whose episode the policy solves."""
    with make_vec_env(config, min(len(seeds), 64)) as vec:
        engine = Engine(vec, policy, stop=config.stop or None, max_turns=config.max_turns)
        episodes = engine.play(seeds, temperature=temperature, generator=torch.Generator().manual_seed(1))
    return sum(e.success for e in episodes) / len(episodes)


def trained_policy(config: Any, out_dir: Path) -> Any:
    """The config's policy with the weights of the run's last checkpoint."""
    policy = build_policy(config)
    policy.model.load_state_dict(torch.load(sorted((out_dir / "checkpoints").iterdir())[-1] / "weights.pt"))
    return policy
