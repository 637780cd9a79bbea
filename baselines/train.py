"""``train(config)``: run the trainer that matches the config's class, with a progress bar.

Every trainer takes ``(config, *, resume, on_log)`` and returns its last step's metrics; they are
imported only when used; ``config.ALGORITHMS`` names them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turngym.baselines.config import ALGORITHMS, ConfigError, TrainConfig, algo_name, load_ref

SHOWN = ("reward/mean", "rollout/success", "loss/sft", "eval/success")


def trainer_for(config: TrainConfig) -> Callable[..., dict[str, Any]]:
    algo = algo_name(type(config))
    if algo not in ALGORITHMS:
        raise ConfigError(f"expected a config of {sorted(ALGORITHMS)}, got {type(config).__name__}")
    return load_ref(algo, "trainer")


def train(config: TrainConfig, *, resume: bool = True, progress: bool = True) -> dict[str, Any]:
    """Train with the algorithm of ``config`` (resuming from ``out_dir``'s last checkpoint); the last step's metrics."""
    trainer = trainer_for(config)
    if not progress:
        return trainer(config, resume=resume)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[shown]}"),
    )
    with Progress(*columns) as bar:
        task = bar.add_task(algo_name(type(config)), total=config.steps, shown="")

        def on_log(step: int, metrics: dict[str, Any]) -> None:
            shown = "  ".join(f"{k}={metrics[k]:.3f}" for k in SHOWN if isinstance(metrics.get(k), (int, float)))
            bar.update(task, completed=step, shown=shown)

        return trainer(config, resume=resume, on_log=on_log)
