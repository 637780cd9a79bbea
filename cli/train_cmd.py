"""``turngym train --config FILE.yaml [--set key=value ...] [--algo grpo|reinforce_rebn|sft|step_grpo]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from turngym.baselines.config import ALGORITHMS

console = Console()

ALGOS = tuple(ALGORITHMS)


CONFIG_HELP = "YAML file of config keys (its `algo` key picks the trainer)."
SET_HELP = "Override a key: key=value (YAML value; env_kwargs.x=1 sets one entry)."
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help=CONFIG_HELP)]
SetOption = Annotated[list[str] | None, typer.Option("--set", "-s", help=SET_HELP)]
AlgoOption = Annotated[str | None, typer.Option(help=f"Trainer: {', '.join(ALGOS)} (default: the file's `algo`, else grpo).")]
RAY_HELP = 'Roll out through the Ray vector env on this cluster: "auto", HOST:PORT, or "local" (start one here).'
ShowOption = Annotated[bool, typer.Option("--show-config", help="Print every key of the algo's config with its help, then exit.")]


def train_command(
    config: ConfigOption = None,
    set_: SetOption = None,
    algo: AlgoOption = None,
    show_config: ShowOption = False,
    resume: Annotated[bool, typer.Option(help="Continue from the newest checkpoint in out_dir.")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    ray: Annotated[str | None, typer.Option(help=RAY_HELP)] = None,
) -> None:
    """Train a policy on a registered env: metrics.jsonl, learning_curve.png, checkpoints and the final model go to out_dir.

    Every config key (see --show-config) can be set in the YAML file or with --set. A run killed at
    any moment resumes from its last checkpoint when started again with the same out_dir.
    """
    from turngym.baselines.config import ConfigError, config_class, config_help, load_config

    if algo is not None and algo not in ALGOS:
        raise typer.BadParameter(f"expected --algo in {', '.join(ALGOS)}, got {algo!r}")
    if show_config:
        try:
            cls = config_class(algo or "grpo")
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None
        table = Table("key", "type", "default", "help", title=f"{cls.__name__} keys")
        for name, kind, default, text in config_help(cls):
            table.add_row(name, escape(kind), escape(default), escape(text))
        console.print(table)
        return
    if config is not None and not config.is_file():
        raise typer.BadParameter(f"expected an existing YAML file for --config, got {str(config)!r}")
    if ray is not None:  # the same as --set vec_mode=ray --set ray_address=ADDRESS
        set_ = [*(set_ or []), "vec_mode=ray", f"ray_address={json.dumps(ray)}"]
    try:
        settings = load_config(config, set_, algo=algo)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    from turngym.baselines.train import train

    console.print(f"training {type(settings).__name__} on {settings.env_id} for {settings.steps} steps into {settings.out_dir}")
    last = train(settings, resume=resume, progress=progress)
    out = Path(settings.out_dir)
    if not last:
        console.print(f"nothing to do: {out} already holds a checkpoint of step {settings.steps}")
    shown = {k: v for k, v in last.items() if k.startswith(("eval/success", "rollout/success", "reward/mean", "loss/sft"))}
    if shown:
        console.print("last step: " + "  ".join(f"{k}={v:.3f}" for k, v in shown.items()))
    console.print(f"metrics: {out / 'metrics.jsonl'}  curve: {out / 'learning_curve.png'}  model: {out / 'final_model'}")
    errors = out / "errors.jsonl"
    if errors.is_file():
        count = sum(1 for line in errors.read_text().splitlines() if line.strip())
        console.print(f"{count} episodes ended with an env or worker error (left out of training): {errors}")
