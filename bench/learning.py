"""Learning with SmolLM2-135M-Instruct on ToolCalc: SFT cold start, then GRPO against step-level GRPO.

1. Oracle episodes of ``turngym/ToolCalc-v0`` (difficulty 1: one ``lookup``, then the answer) are
   recorded; ``sft`` fine-tunes the model on the successful ones (the cold start: the model never
   uses the tool-call format on its own).
2. From the SFT model, ``grpo`` (G episodes per task) and ``step_grpo`` (k siblings per turn, k = G,
   the same tasks per step) each train for ``--steps`` steps. With k = G and the same tasks per step
   both sample about the same number of tokens per step; the table reports the exact counts.
3. Success is measured on held-out tasks (greedy): of the model as it comes, after SFT, and at the
   end of each RL run.

Writes ``OUT/learning.md`` (the table) and ``OUT/learning.png`` (held-out success against sampled
tokens). The model folder comes from ``turngym model prepare smollm2-135m --out DIR``.

Run from the repository root::

    python bench/learning.py --model DIR --out runs/learning            # a GPU run
    python bench/learning.py --model DIR --out runs/learning --quick    # a tiny CPU run

``--quick`` runs 3 SFT steps (batches of 2), then 1 step each of grpo and step_grpo (1 task,
G = k = 2), with 2 held-out episodes per evaluation: it checks the pipeline, not learning (about
8 CPU minutes with SmolLM2-135M). At difficulty 1 the SFT model may already solve most tasks;
``--difficulty 2`` or fewer ``--sft-steps`` leave RL more to do.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

ENV_ID = "turngym/ToolCalc-v0"


def need(module: str, what: str) -> Any:
    """Import a trainer module, or stop with a message naming the missing part (no numbers are faked)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        sys.exit(f"bench/learning.py needs {what} ({module}), which is not available here: {exc}")


def record_oracle_episodes(path: Path, episodes: int, env_kwargs: dict[str, Any], seed: int) -> int:
    """Play ``episodes`` oracle episodes and append them to ``path`` (JSONL); returns how many succeeded."""
    from turngym.agents import OraclePolicy
    from turngym.engine import play_episodes
    from turngym.envs.vector import make_vec

    path.unlink(missing_ok=True)
    with make_vec(ENV_ID, min(episodes, 8), record_to=str(path), **env_kwargs) as vec:
        results = play_episodes(vec, OraclePolicy(), episodes, seed=seed)
    return sum(r.outcome > 0 for r in results)


def rl_tokens(records: list[dict[str, Any]]) -> list[float]:
    """Cumulative sampled tokens after each step (all siblings for step_grpo, all episodes for grpo)."""
    total, out = 0.0, []
    for r in records:
        step_tokens = r.get("rollout/sampled_tokens")
        if step_tokens is None:
            step_tokens = r.get("rollout/policy_tokens", 0.0) * r.get("rollout/episodes", 0.0)
        total += step_tokens
        out.append(total)
    return out


def rl_tokens_total(curve: list[tuple[float, float]]) -> float:
    return curve[-1][0] if curve else 0.0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="folder from `turngym model prepare smollm2-135m --out DIR`")
    parser.add_argument("--out", default="runs/learning", help="output folder")
    parser.add_argument("--quick", action="store_true", help="a very small CPU run")
    parser.add_argument("--difficulty", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100, help="RL steps for each of grpo and step_grpo")
    parser.add_argument("--sft-steps", type=int, default=20)
    parser.add_argument("--group", type=int, default=8, help="G for grpo and k for step_grpo")
    parser.add_argument("--tasks", type=int, default=16, help="tasks per RL step")
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--sft-lr", type=float, default=5e-5)
    parser.add_argument("--rl-lr", type=float, default=2e-6)
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.sft_steps, args.group, args.tasks, args.eval_episodes = 1, 3, 2, 1, 2
    import torch

    config_mod = need("turngym.baselines.config", "the trainer configs")
    sft = need("turngym.baselines.sft", "the SFT trainer")
    grpo = need("turngym.baselines.grpo", "the GRPO trainer")
    step_grpo = need("turngym.baselines.step_grpo", "the step-level GRPO trainer")
    metrics_mod = need("turngym.baselines.metrics", "the metrics reader")
    run_mod = need("turngym.baselines.run", "the training run")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    env_kwargs = {"difficulty": args.difficulty}
    common = {
        "env_id": ENV_ID,
        "env_kwargs": env_kwargs,
        "max_turns": 2 * args.difficulty + 2,
        "max_new_tokens": 48 if args.quick else 64,
        "device": device,
        "seed": args.seed,
        "eval_episodes": args.eval_episodes,
        "checkpoint_every": 0,
        "keep_checkpoints": 1,
        "tensorboard": False,
    }
    timings: dict[str, float] = {}

    # 0. the model as it comes, on the same held-out tasks
    data = out / "oracle_episodes.jsonl"
    solved = record_oracle_episodes(data, max(64, 4 * args.sft_steps), env_kwargs, seed=args.seed + 10_000)
    sft_config = config_mod.SFTConfig(
        **common,
        model=args.model,
        data=str(data),
        steps=args.sft_steps,
        batch_size=2 if args.quick else 16,
        lr=args.sft_lr,
        eval_every=args.sft_steps,
        out_dir=str(out / "sft"),
    )
    start = time.perf_counter()
    base = run_mod.TrainingRun(dataclasses.replace(sft_config, out_dir=str(out / "base")), resume=False).evaluate(0)
    timings["base"] = time.perf_counter() - start

    # 1. the cold start: SFT on the oracle episodes recorded above
    start = time.perf_counter()
    after_sft = sft.train_sft(sft_config, resume=False)
    timings["sft"] = time.perf_counter() - start
    cold = str(out / "sft" / "final_model")

    # 2. the same budget of RL steps from the SFT model: grpo, then step_grpo
    rl = {
        "model": cold,
        "steps": args.steps,
        "tasks_per_step": args.tasks,
        "lr": args.rl_lr,
        "eval_every": max(args.steps // 5, 1),
        "micro_batch": 8,
    }
    results = {}
    for name, trainer, config in [
        ("grpo", grpo.train_grpo, config_mod.GRPOConfig(**common, **rl, group_size=args.group, out_dir=str(out / "grpo"))),
        (
            "step_grpo",
            step_grpo.train_step_grpo,
            step_grpo.StepGRPOConfig(**common, **rl, k=args.group, out_dir=str(out / "step_grpo")),
        ),
    ]:
        start = time.perf_counter()
        results[name] = trainer(config, resume=False)
        timings[name] = time.perf_counter() - start

    # 3. the table and the curve
    curves = {}
    for name in ("grpo", "step_grpo"):
        records = metrics_mod.read_metrics(out / name / metrics_mod.METRICS_FILE)
        tokens = rl_tokens(records)
        curves[name] = [(t, r["eval/success"]) for t, r in zip(tokens, records, strict=True) if "eval/success" in r]
    rows = [
        ("base model", base.get("eval/success"), 0.0, timings["base"]),
        ("SFT cold start", after_sft.get("eval/success"), 0.0, timings["sft"]),
        *[(name, results[name].get("eval/success"), rl_tokens_total(curves[name]), timings[name]) for name in curves],
    ]
    lines = [
        f"# {ENV_ID} difficulty {args.difficulty}, model {args.model}, device {device}" + (" (--quick)" if args.quick else ""),
        "",
        f"SFT: {args.sft_steps} steps on {solved} oracle episodes; RL: {args.steps} steps of {args.tasks} tasks, "
        f"G = k = {args.group}; held-out success over {args.eval_episodes} greedy episodes.",
        "",
        "| stage | held-out success | RL sampled tokens | seconds |",
        "| --- | --- | --- | --- |",
        *[f"| {name} | {success:.3f} | {tokens:.0f} | {seconds:.0f} |" for name, success, tokens, seconds in rows],
    ]
    table = "\n".join(lines) + "\n"
    (out / "learning.md").write_text(table)
    plot(curves, after_sft.get("eval/success", 0.0), out / "learning.png")
    (out / "learning.json").write_text(json.dumps({"rows": rows, "curves": curves}, indent=1))
    print(table)
    return {"rows": rows, "curves": curves}


def plot(curves: dict[str, list[tuple[float, float]]], cold: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        ax.plot([0.0] + [t for t, _ in points], [cold] + [s for _, s in points], marker="o", label=name)
    ax.set_xlabel("sampled tokens (RL)")
    ax.set_ylabel("held-out success")
    ax.set_title(f"{ENV_ID}: after SFT, GRPO vs step-level GRPO")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
