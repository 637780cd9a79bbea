"""The eval report from an eval folder's records: JSON for machines, markdown and PNG plots for people.

A task is one (suite entry, seed) with its n samples. Means, success, pass@k and pass^k are
averaged over tasks, with bootstrap intervals from resampling tasks. Episodes that ended with
``stop_reason="error"`` (a crashed env, tool or worker) are counted and left out of the scores.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from turngym.evaluation.stats import Estimate, bootstrap, paired_difference, pass_at_k, pass_hat_k

TaskKey = tuple[str, int]


def is_success(record: dict[str, Any], success_at: float | None) -> bool:
    """outcome > 0, or outcome >= ``success_at`` when given."""
    return record["outcome"] >= success_at if success_at is not None else record["outcome"] > 0


def build_report(
    records: Sequence[dict[str, Any]],
    run: dict[str, Any],
    *,
    success_at: float | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Scores with intervals, overall and by suite entry; reward parts, stop reasons, tokens and wall time."""
    scored = [r for r in records if r["stop_reason"] != "error"]
    if not scored:
        raise ValueError(f"expected at least one episode that did not end in an error, got {len(records)} episodes")
    tasks = _tasks(scored)
    n = int(run.get("n", 1))
    ks = list(range(1, n + 1))

    def estimate(values: list[float]) -> dict[str, float]:
        return bootstrap(values, resamples=resamples, seed=seed).as_dict()

    def scores(group: dict[TaskKey, list[dict[str, Any]]]) -> dict[str, Any]:
        rewards = [float(np.mean([r["reward"] for r in rs])) for rs in group.values()]
        wins = [[is_success(r, success_at) for r in rs] for rs in group.values()]
        out: dict[str, Any] = {
            "tasks": len(group),
            "episodes": sum(len(rs) for rs in group.values()),
            "mean_reward": estimate(rewards),
            "success": estimate([float(np.mean(w)) for w in wins]),
            "pass@k": {},
            "pass^k": {},
        }
        for k in ks:
            eligible = [w for w in wins if len(w) >= k]
            if eligible:
                out["pass@k"][str(k)] = estimate([pass_at_k(len(w), sum(w), k) for w in eligible])
                out["pass^k"][str(k)] = estimate([pass_hat_k(len(w), sum(w), k) for w in eligible])
        return out

    by_task: dict[str, Any] = {}
    present = {key[0] for key in tasks}
    for label in [t["label"] for t in run["suite"]["tasks"] if t["label"] in present]:
        group = {key: rs for key, rs in tasks.items() if key[0] == label}
        entry_records = [r for rs in group.values() for r in rs]
        by_task[label] = {
            **scores(group),
            "parts": _part_means(entry_records),
            "stop_reasons": dict(Counter(r["stop_reason"] for r in entry_records).most_common()),
        }
    sessions: dict[str, float] = defaultdict(float)
    for r in records:
        sessions[r["session"]] = max(sessions[r["session"]], r["elapsed_s"])
    tokens = sum(r["policy_tokens"] for r in records)
    return {
        "suite": run["suite"]["name"],
        "policy": run["policy"],
        "n": n,
        "success_rule": f"outcome >= {success_at}" if success_at is not None else "outcome > 0",
        **scores(tasks),
        "by_task": by_task,
        "parts": _part_means(scored),
        "stop_reasons": dict(Counter(r["stop_reason"] for r in records).most_common()),
        "errors": len(records) - len(scored),
        "tokens": {"policy_total": tokens, "per_episode": tokens / len(records)},
        "wall_s": round(sum(sessions.values()), 3),
        "sessions": len(sessions),
    }


def _tasks(records: Sequence[dict[str, Any]]) -> dict[TaskKey, list[dict[str, Any]]]:
    tasks: dict[TaskKey, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r["task"], r["seed"], r["sample"])):
        tasks[(r["task"], r["seed"])].append(r)
    return dict(tasks)


def _part_means(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    names = sorted({name for r in records for name in r["parts"]})
    return {name: float(np.mean([r["parts"].get(name, 0.0) for r in records])) for name in names}


def compare_records(
    a: Sequence[dict[str, Any]],
    b: Sequence[dict[str, Any]],
    *,
    success_at: float | None = None,
    resamples: int = 10000,
    seed: int = 0,
) -> dict[str, Any]:
    """B minus A on the tasks both ran (error episodes left out): mean reward and success, paired bootstrap intervals."""
    tasks_a = _tasks([r for r in a if r["stop_reason"] != "error"])
    tasks_b = _tasks([r for r in b if r["stop_reason"] != "error"])
    common = sorted(set(tasks_a) & set(tasks_b))
    if not common:
        raise ValueError(
            "expected tasks (suite entry, seed) that both evals ran, "
            f"got none in common ({len(tasks_a)} and {len(tasks_b)} tasks)"
        )
    out: dict[str, Any] = {
        "tasks": len(common),
        "only_a": len(set(tasks_a) - set(tasks_b)),
        "only_b": len(set(tasks_b) - set(tasks_a)),
    }
    for metric, value in (("mean_reward", lambda r: r["reward"]), ("success", lambda r: float(is_success(r, success_at)))):
        mean_a = [float(np.mean([value(r) for r in tasks_a[key]])) for key in common]
        mean_b = [float(np.mean([value(r) for r in tasks_b[key]])) for key in common]
        diff = paired_difference(mean_a, mean_b, resamples=resamples, seed=seed)
        out[metric] = {
            "a": float(np.mean(mean_a)),
            "b": float(np.mean(mean_b)),
            "difference": diff.estimate.as_dict(),
            "p_value": diff.p_value,
            "significant": diff.significant,
        }
    return out


def _ci(value: dict[str, float]) -> str:
    return str(Estimate(value["mean"], value["low"], value["high"]))


def report_markdown(report: dict[str, Any]) -> str:
    """The report as a markdown page (values with their 95% bootstrap intervals)."""
    lines = [
        f"# Eval: suite `{report['suite']}`, policy `{report['policy']}`, n = {report['n']}",
        "",
        f"{report['tasks']} tasks, {report['episodes']} scored episodes, {report['errors']} errors (left out); "
        f"success: {report['success_rule']}; intervals: 95% bootstrap over tasks.",
        "",
        "| metric | value [95% CI] |",
        "|---|---|",
        f"| mean reward | {_ci(report['mean_reward'])} |",
        f"| success | {_ci(report['success'])} |",
    ]
    lines += [f"| pass@{k} | {_ci(v)} |" for k, v in report["pass@k"].items()]
    lines += [f"| pass^{k} | {_ci(v)} |" for k, v in report["pass^k"].items()]
    lines += [
        "",
        "## By task",
        "",
        "| task | tasks | mean reward | success | pass@n | stop reasons |",
        "|---|---|---|---|---|---|",
    ]
    for label, entry in report["by_task"].items():
        top = entry["pass@k"][max(entry["pass@k"], key=int)] if entry["pass@k"] else None
        stops = ", ".join(f"{k} {v}" for k, v in entry["stop_reasons"].items())
        lines.append(
            f"| {label} | {entry['tasks']} | {_ci(entry['mean_reward'])} | {_ci(entry['success'])} "
            f"| {_ci(top) if top else '-'} | {stops} |"
        )
    lines += ["", "## Reward parts (mean per episode)", "", "| task | " + " | ".join(report["parts"]) + " |"]
    lines.append("|---|" + "---|" * len(report["parts"]))
    for label, entry in report["by_task"].items():
        lines.append(f"| {label} | " + " | ".join(f"{entry['parts'].get(p, 0.0):.3f}" for p in report["parts"]) + " |")
    stops = ", ".join(f"{k} {v}" for k, v in report["stop_reasons"].items())
    lines += [
        "",
        f"Stop reasons: {stops}. Policy tokens: {report['tokens']['policy_total']} "
        f"({report['tokens']['per_episode']:.1f} per episode). "
        f"Wall time: {report['wall_s']:.1f} s over {report['sessions']} session(s).",
    ]
    return "\n".join(lines) + "\n"


def compare_markdown(result: dict[str, Any], a: str, b: str) -> str:
    lines = [
        f"# Compare: B = `{b}` minus A = `{a}`",
        "",
        f"{result['tasks']} tasks in common (only in A: {result['only_a']}, only in B: {result['only_b']}); "
        "paired bootstrap over tasks.",
        "",
        "| metric | A | B | B - A [95% CI] | p | significant |",
        "|---|---|---|---|---|---|",
    ]
    for metric in ("mean_reward", "success"):
        m = result[metric]
        yes = "yes" if m["significant"] else "no"
        lines.append(f"| {metric} | {m['a']:.3f} | {m['b']:.3f} | {_ci(m['difference'])} | {m['p_value']:.3f} | {yes} |")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], folder: str | os.PathLike[str]) -> list[Path]:
    """``report.json``, ``report.md`` and, with matplotlib installed, ``pass_at_k.png`` and ``by_task.png``; the paths written."""
    folder = Path(folder)
    paths = [folder / "report.json", folder / "report.md"]
    paths[0].write_text(json.dumps(report, indent=1))
    paths[1].write_text(report_markdown(report))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return paths
    ks = [int(k) for k in report["pass@k"]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in ("pass@k", "pass^k"):
        values = [report[name][str(k)] for k in ks]
        mean = np.array([v["mean"] for v in values])
        err = np.array(
            [
                [m - v["low"] for m, v in zip(mean, values, strict=True)],
                [v["high"] - m for m, v in zip(mean, values, strict=True)],
            ]
        )
        ax.errorbar(ks, mean, yerr=err, marker="o", capsize=3, label=name)
    ax.set(xlabel="k", ylabel="share of tasks", ylim=(-0.02, 1.02), title=f"{report['suite']} · {report['policy']}")
    ax.set_xticks(ks)
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "pass_at_k.png", dpi=100)
    plt.close(fig)
    labels = list(report["by_task"])
    success = [report["by_task"][label]["success"] for label in labels]
    mean = np.array([s["mean"] for s in success])
    err = np.array(
        [[m - s["low"] for m, s in zip(mean, success, strict=True)], [s["high"] - m for m, s in zip(mean, success, strict=True)]]
    )
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(labels)), 3.5))
    ax.bar(range(len(labels)), mean, yerr=err, capsize=3)
    ax.set_xticks(range(len(labels)), [label.removeprefix("turngym/") for label in labels], rotation=30, ha="right")
    ax.set(ylabel="success", ylim=(0, 1.05), title="success by task (95% CI)")
    fig.tight_layout()
    fig.savefig(folder / "by_task.png", dpi=100)
    plt.close(fig)
    return [*paths, folder / "pass_at_k.png", folder / "by_task.png"]
