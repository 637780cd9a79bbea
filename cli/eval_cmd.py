"""``turngym eval``: a policy on a suite, n samples per task; ``turngym eval compare A B``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from turngym.cli.policies import POLICY_HELP, TOKENIZER_HELP
from turngym.cli.train_cmd import RAY_HELP

eval_app = typer.Typer(help="Evaluate a policy on a suite: pass@k, pass^k and bootstrap intervals.", add_completion=False)
console = Console()


@eval_app.callback(invoke_without_command=True)
def evaluate(
    ctx: typer.Context,
    suite: Annotated[str | None, typer.Option(help="A shipped suite (basic, tools, search, all) or a suite YAML file.")] = None,
    env: Annotated[list[str] | None, typer.Option(help="Env IDs to evaluate instead of a suite (repeatable).")] = None,
    seeds: Annotated[
        int | None, typer.Option(help="Held-out seeds per env (with --env: default 8; with --suite: a cap).", min=1)
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="With --env: env keyword argument key=value.")] = None,
    policy: Annotated[str, typer.Option(help=POLICY_HELP)] = "scripted",
    model: Annotated[str | None, typer.Option(help="hf: the model folder; openai: the served model's name.")] = None,
    base_url: Annotated[str | None, typer.Option(help="openai: the server, e.g. http://127.0.0.1:8001.")] = None,
    tokenizer: Annotated[str | None, typer.Option(help=TOKENIZER_HELP)] = None,
    temperature: Annotated[float, typer.Option(help="hf/openai: sampling temperature (0: greedy).", min=0.0)] = 1.0,
    max_new_tokens: Annotated[int, typer.Option(help="hf/openai: most tokens per action.", min=1)] = 256,
    n: Annotated[int, typer.Option("-n", "--samples", help="Samples per task (pass@k and pass^k for every k <= n).", min=1)] = 1,
    num_envs: Annotated[int, typer.Option(help="Episodes played at once per env.", min=1)] = 8,
    mode: Annotated[str, typer.Option(help="Vector env: sync, process or ray.")] = "sync",
    ray: Annotated[str | None, typer.Option(help=RAY_HELP)] = None,
    success_at: Annotated[float | None, typer.Option(help="Success is outcome >= this (default: outcome > 0).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of sampling and of the bootstrap.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="The eval folder (resumed when it holds the same run). Default runs/eval/<suite>-<policy>."),
    ] = None,
) -> None:
    """Play a suite's held-out tasks n times each; print and write the report (a killed eval resumes)."""
    if ctx.invoked_subcommand is not None:
        return
    from turngym.cli.commands import _env_id, parse_sets
    from turngym.cli.policies import make_policy
    from turngym.evaluation.report import build_report, write_report
    from turngym.evaluation.runner import read_run, run_eval
    from turngym.evaluation.suite import env_suite, load_suite

    if (suite is None) == (not env):
        raise typer.BadParameter("give either --suite (a name or file) or one or more --env IDs")
    if set_ and not env:
        raise typer.BadParameter("--set applies to --env IDs; a suite file holds each env's kwargs")
    if ray is not None:
        if mode not in ("sync", "ray"):
            raise typer.BadParameter(f"--ray plays through the Ray vector env; it cannot go with --mode {mode}")
        from turngym.envs.vector.ray import connect

        mode = "ray"
        connect(ray)  # the vector envs of every task join this cluster
    chosen = load_suite(suite, seeds=seeds) if suite else env_suite([_env_id(e) for e in env or []], seeds or 8, parse_sets(set_))
    for task in chosen.tasks:
        _env_id(task.env)
    folder = out or Path("runs") / "eval" / f"{chosen.name}-{policy}"
    llm = {"model": model, "base_url": base_url, "temperature": temperature, "max_new_tokens": max_new_tokens}
    shared = make_policy(policy, "", tokenizer=tokenizer, **llm) if policy in ("hf", "openai") else None
    policies = {
        t.name: shared or make_policy(policy, t.env, tokenizer=tokenizer, seed=seed, env_kwargs=dict(t.kwargs))
        for t in chosen.tasks
    }
    generator_for = None
    if policy == "hf":
        import torch

        generator_for = lambda task: torch.Generator().manual_seed(seed)  # noqa: E731
    total = sum(len(t.seeds) for t in chosen.tasks) * n
    with Progress(console=console) as progress:
        bar = progress.add_task(f"{chosen.name} · {policy}", total=total)
        records = run_eval(
            chosen,
            None,
            folder,
            policy_for=lambda task: policies[task.name],
            policy_name=_policy_name(policy, model),
            n=n,
            num_envs=num_envs,
            mode=mode,
            generator_for=generator_for,
            temperature=temperature if policy in ("hf", "openai") else None,
            on_episode=lambda _: progress.advance(bar),
        )
        progress.update(bar, completed=total)
    report = build_report(records, read_run(folder), success_at=success_at, seed=seed)
    paths = write_report(report, folder)
    console.print((folder / "report.md").read_text(), markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {', '.join(escape(str(p)) for p in paths)}")


def _policy_name(kind: str, model: str | None) -> str:
    return f"{kind}:{model}" if model else kind


@eval_app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="Eval folder A (the baseline).")],
    b: Annotated[Path, typer.Argument(help="Eval folder B.")],
    success_at: Annotated[float | None, typer.Option(help="Success is outcome >= this (default: outcome > 0).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write the comparison as JSON here.")] = None,
) -> None:
    """B minus A on the tasks both ran, with paired bootstrap intervals; says whether each difference is significant."""
    from turngym.evaluation.report import compare_markdown, compare_records
    from turngym.evaluation.runner import read_records, read_run

    for folder in (a, b):
        read_run(folder)
    result = compare_records(read_records(a), read_records(b), success_at=success_at, seed=seed)
    console.print(compare_markdown(result, str(a), str(b)), markup=False, highlight=False, soft_wrap=True)
    if out:
        out.write_text(json.dumps(result, indent=1))
