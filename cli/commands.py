"""``turngym list | card | demo | play | rollout | eval | check | replay``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from turngym.cli.eval_cmd import eval_app
from turngym.cli.index_cmd import index_app
from turngym.cli.model_cmd import model_app
from turngym.cli.policies import POLICY_HELP, TOKENIZER_HELP
from turngym.cli.sandbox_cmd import sandbox_app
from turngym.cli.serve_cmd import serve_app
from turngym.cli.train_cmd import train_command

app = typer.Typer(help="turngym: Gymnasium environments for multi-turn LLM agents.", no_args_is_help=True, add_completion=False)
app.add_typer(index_app, name="index")
app.add_typer(serve_app, name="serve")
app.add_typer(eval_app, name="eval")
app.command("train")(train_command)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(model_app, name="model")
console = Console()

SetOption = Annotated[list[str] | None, typer.Option("--set", "-s", help="Env keyword argument as key=value (YAML value).")]


def parse_sets(pairs: list[str] | None) -> dict[str, Any]:
    """``["difficulty=3", "parser=tags"]`` -> ``{"difficulty": 3, "parser": "tags"}``."""
    kwargs = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {pair!r}")
        kwargs[key.strip()] = yaml.safe_load(value)
    return kwargs


def _env_id(env_id: str) -> str:
    from turngym.envs.errors import UnknownEnvError
    from turngym.envs.registration import spec

    try:
        spec(env_id)
    except UnknownEnvError as exc:
        raise typer.BadParameter(str(exc)) from None
    return env_id


@app.command("list")
def list_envs() -> None:
    """Print every registered env ID with its one-line card."""
    from turngym.envs.registration import one_line_card, registered_ids

    table = Table("ID", "card")
    for env_id in registered_ids():
        table.add_row(env_id, escape(one_line_card(env_id)))
    console.print(table)


@app.command()
def card(env_id: str) -> None:
    """Print an env's full card: task, observation, action, rewards, episode end, arguments."""
    from turngym.envs.registration import env_card

    console.print(env_card(_env_id(env_id)), markup=False, highlight=False)


@app.command()
def demo(
    episodes: Annotated[int, typer.Option(help="Episodes per env and policy.")] = 4,
    env: Annotated[list[str] | None, typer.Option("--env", help="Only these env IDs (default: every registered env).")] = None,
    seed: int = 0,
    train_seconds: Annotated[
        float, typer.Option(help="Then train a tiny policy with GRPO on Echo-v0 for about this long (0: skip).", min=0)
    ] = 30.0,
    out_dir: Annotated[Path, typer.Option(help="Where the demo's training run goes.")] = Path("runs/demo"),
) -> None:
    """Play every registered env with the oracle and a random policy, then train a tiny policy on the CPU."""
    from turngym.agents import OraclePolicy, RandomPolicy
    from turngym.agents.scripted import NoOracleError
    from turngym.engine import play_episodes
    from turngym.envs.registration import registered_ids
    from turngym.envs.vector import make_vec

    table = _results_table()
    ids = [_env_id(e) for e in env] if env else registered_ids()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("playing", total=len(ids) * 2 * episodes)
        for env_id in ids:
            for name, policy in (("oracle", OraclePolicy()), ("random", RandomPolicy.for_env(env_id, seed=seed))):
                with make_vec(env_id, min(4, episodes)) as vec:
                    try:
                        results = play_episodes(vec, policy, episodes, seed=seed, on_episode=lambda _: progress.advance(task))
                    except NoOracleError:
                        table.add_row(env_id, name, "0", "-", "-", "-", "the env has no oracle")
                        continue
                table.add_row(*_summary_row(env_id, name, results))
    console.print(table)
    if train_seconds:
        _demo_training(train_seconds, out_dir)


def _demo_training(seconds: float, out_dir: Path) -> None:
    """GRPO on Echo-v0 with a tiny random model for about ``seconds``: the learning table and the curve's path."""
    from importlib.resources import files

    try:
        from turngym.baselines.config import load_config
        from turngym.baselines.metrics import read_metrics
        from turngym.baselines.train import train
    except ImportError as exc:
        console.print(f"skipping the training demo: it needs the train extra (pip install 'turngym[train]'): {exc}")
        return
    path = files("turngym.baselines") / "configs" / "echo_grpo.yaml"
    overrides = [f"out_dir={out_dir}", f"max_seconds={seconds}", "eval_every=5", "eval_episodes=32", "tensorboard=false"]
    config = load_config(str(path), overrides)
    console.print(f"\ntraining a tiny random model with GRPO on {config.env_id} for about {seconds:.0f} s (CPU)")
    train(config, resume=False)
    table = Table("step", "rollout success", "reward", "eval success (greedy, held-out)", title="learning")
    for record in read_metrics(out_dir / "metrics.jsonl"):
        if "eval/success" in record:
            table.add_row(
                str(record["step"]),
                f"{record['rollout/success']:.2f}",
                f"{record['reward/mean']:.2f}",
                f"{record['eval/success']:.2f}",
            )
    console.print(table)
    console.print(f"learning curve: {out_dir / 'learning_curve.png'}  metrics: {out_dir / 'metrics.jsonl'}")


def _results_table() -> Table:
    table = Table("env", "policy", "episodes", "mean reward", "success", "mean steps", "stop reasons")
    for column in (table.columns[0], table.columns[-1]):
        column.no_wrap = True
    return table


def _summary_row(env_id: str, policy: str, results: list[Any]) -> list[str]:
    n = len(results)
    stops = Counter(r.stop_reason for r in results)
    return [
        env_id,
        policy,
        str(n),
        f"{sum(r.total_reward for r in results) / n:.3f}",
        f"{sum(r.outcome > 0 for r in results) / n:.0%}",
        f"{sum(r.turns for r in results) / n:.1f}",
        ", ".join(f"{k} {v}" for k, v in stops.most_common()),
    ]


@app.command()
def rollout(
    env_id: str,
    policy: Annotated[str, typer.Option(help=POLICY_HELP)] = "scripted",
    model: Annotated[str | None, typer.Option(help="hf: the model folder; openai: the served model's name.")] = None,
    base_url: Annotated[str | None, typer.Option(help="openai: the server, e.g. http://127.0.0.1:8001.")] = None,
    tokenizer: Annotated[str | None, typer.Option(help=TOKENIZER_HELP)] = None,
    temperature: Annotated[float, typer.Option(help="hf/openai: sampling temperature.", min=0.0)] = 1.0,
    max_new_tokens: Annotated[int, typer.Option(help="hf/openai: most tokens per action.", min=1)] = 256,
    episodes: int = 8,
    out: Annotated[Path | None, typer.Option(help="Append one JSON line per episode here.")] = None,
    num_envs: int = 4,
    mode: Annotated[str, typer.Option(help="sync or process.")] = "sync",
    seed: int = 0,
    set_: SetOption = None,
) -> None:
    """Play episodes with a scripted, random or LLM policy, record them, and print a summary."""
    from turngym.cli.policies import make_policy
    from turngym.engine import play_episodes
    from turngym.envs.vector import make_vec

    kwargs = parse_sets(set_)
    _env_id(env_id)
    agent = make_policy(
        policy,
        env_id,
        model=model,
        base_url=base_url,
        tokenizer=tokenizer,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        seed=seed,
        env_kwargs=kwargs,
    )
    record_to = str(out) if out else None
    with (
        make_vec(env_id, min(num_envs, episodes), mode=mode, record_to=record_to, **kwargs) as vec,
        Progress(console=console) as progress,
    ):
        task = progress.add_task(f"{env_id} · {policy}", total=episodes)
        results = play_episodes(vec, agent, episodes, seed=seed, on_episode=lambda _: progress.advance(task))
    table = _results_table()
    table.add_row(*_summary_row(env_id, policy, results))
    console.print(table)
    if out:
        console.print(f"recorded {len(results)} episodes to {out}")


@app.command()
def check(
    env_id: str,
    fuzz: Annotated[int, typer.Option(help="Garbage actions in the fuzz check.")] = 1000,
    set_: SetOption = None,
) -> None:
    """Run the conformance suite (check_env, determinism, fork, fuzz, episode_state) on one env; exit 1 on failure."""
    from turngym.envs.conformance import check as run_checks

    results = run_checks(_env_id(env_id), fuzz_actions=fuzz, **parse_sets(set_))
    table = Table("check", "result", "detail")
    for r in results:
        table.add_row(r.name, "[green]pass[/]" if r.ok else "[red]FAIL[/]", r.detail)
    console.print(table)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def corpus(
    name: Annotated[str, typer.Argument(help="A registered corpus: world or wikipedia.")],
    out: Annotated[Path, typer.Option(help="Write the corpus here as JSONL.")],
    fmt: Annotated[
        str, typer.Option("--format", help="title_text ({id, title, text}) or contents (Search-R1's).")
    ] = "title_text",
    world_seed: int = 0,
) -> None:
    """Export a registered corpus as JSONL, ready for `turngym index build`."""
    from turngym.envs.search.resources import named_corpus
    from turngym.tools.retrieval.corpus import write_corpus

    try:
        docs = named_corpus(name, world_seed=world_seed)
        count = write_corpus(docs, out, fmt=fmt)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    console.print(f"wrote {count} documents of {name} to {out}")


@app.command()
def replay(path: Path, tolerance: float = 1e-9) -> None:
    """Re-step every recorded episode and check that rewards and stops match; exit 1 on a mismatch."""
    from turngym.envs.recording import read_episodes
    from turngym.envs.recording import replay as replay_record

    if not path.exists():
        raise typer.BadParameter(f"no such file: {path}")
    records = list(read_episodes(path))
    table = Table("#", "env", "task", "steps", "result")
    failures = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=len(records))
        for n, record in enumerate(records, 1):
            report = replay_record(record, tolerance)
            if not report.ok:
                failures.append((n, report))
            result = "[green]match[/]" if report.ok else "[red]MISMATCH[/]"
            table.add_row(str(n), report.env_id, report.task_id, str(report.steps), result)
            progress.advance(task)
    console.print(table)
    for n, report in failures:
        for mismatch in report.mismatches:
            console.print(f"episode {n}: {mismatch}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"{len(records) - len(failures)}/{len(records)} episodes replayed with matching rewards")
    if failures or not records:
        raise typer.Exit(1)


@app.command()
def play(env_id: str, seed: int = 0, set_: SetOption = None) -> None:
    """Be the agent: type each action on one line (\\n for newlines). :hint shows the oracle, :q quits."""
    from turngym.envs.registration import make

    env = make(_env_id(env_id), **parse_sets(set_))
    obs, info = env.reset(seed=seed)
    _show(obs)
    total = 0.0
    while True:
        try:
            line = input("you> ")
        except EOFError:
            break
        if line.strip() == ":q":
            break
        if line.strip() == ":hint":
            console.print(f"oracle: {json.dumps(env.get_wrapper_attr('oracle_action')())}", markup=False)
            continue
        obs, reward, terminated, truncated, info = env.step(line.replace("\\n", "\n"))
        total += reward
        _show(obs)
        console.print(f"reward {reward:+.3f} {info['reward_parts']}", markup=False)
        if terminated or truncated:
            console.print(f"episode over: {info['stop_reason']} after {info['turn']} turns, return {total:.3f}")
            break
    env.close()


def _show(messages: list[dict[str, Any]]) -> None:
    for m in messages:
        console.print(f"[bold]{m['role']}[/]> ", end="")
        console.print(m.get("content") or "", markup=False, highlight=False)


def main() -> None:
    """The ``turngym`` command; a bad env argument or config value is one line on stderr (exit status 2)."""
    from turngym.baselines.config import ConfigError
    from turngym.envs.errors import EnvArgumentError
    from turngym.evaluation.runner import EvalFolderError
    from turngym.evaluation.suite import SuiteError

    try:
        app()
    except (EnvArgumentError, ConfigError, SuiteError, EvalFolderError) as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
