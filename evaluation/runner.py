"""Play a suite with a policy, n samples per task, writing each finished episode at once so a killed eval resumes.

An eval folder holds ``run.json`` (the suite, policy and n it was started with) and ``episodes.jsonl``
(one line per finished episode, appended in one write by ``append_jsonl``). Running again into the same folder plays
only what is missing; a folder started with another suite, policy or n is refused.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from turngym.engine import Engine
from turngym.engine.episode import EpisodeTokens
from turngym.envs.recording import append_jsonl, read_jsonl
from turngym.evaluation.suite import Suite, SuiteTask

FORMAT = "turngym.eval/1"
RUN_FILE = "run.json"
EPISODES_FILE = "episodes.jsonl"


class EvalFolderError(ValueError):
    """The eval folder holds another run (suite, policy or n differ) or an unreadable file."""


def run_eval(
    suite: Suite,
    policy: Any,
    out_dir: str | os.PathLike[str],
    *,
    policy_name: str,
    n: int = 1,
    num_envs: int = 8,
    mode: str = "sync",
    policy_for: Callable[[SuiteTask], Any] | None = None,
    generator_for: Callable[[SuiteTask], Any] | None = None,
    temperature: float | None = None,
    on_episode: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Play every (task, seed) of ``suite`` ``n`` times with ``policy``; returns all records, old and new.

    ``policy_for(task)``, when given, replaces ``policy`` per task (a random policy samples each env's
    own action space); ``generator_for(task)`` gives the sampling generator for a task's episodes (HF policies);
    ``num_envs`` envs of each task run at once through ``mode``'s vector env.
    """
    from turngym.envs.vector import make_vec

    if n < 1 or num_envs < 1:
        raise ValueError(f"n and num_envs must be >= 1, got n={n}, num_envs={num_envs}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _claim(folder, {"format": FORMAT, "suite": suite.as_dict(), "policy": policy_name, "n": n})
    records = read_records(folder)
    session = uuid.uuid4().hex[:12]
    start = time.perf_counter()
    for task in suite.tasks:
        done = Counter(r["seed"] for r in records if r["task"] == task.name)
        todo = [s for s in task.seeds for _ in range(n - min(done[s], n))]
        if not todo:
            continue

        def write(episode: EpisodeTokens, task: SuiteTask = task, done: Counter = done) -> None:
            record = episode_record(
                task, episode, sample=done[episode.seed], session=session, elapsed=time.perf_counter() - start
            )
            done[episode.seed] += 1
            append_jsonl(folder / EPISODES_FILE, record)
            records.append(record)
            if on_episode is not None:
                on_episode(record)

        with make_vec(task.env, min(num_envs, len(todo)), mode=mode, **task.kwargs) as vec:
            generator = generator_for(task) if generator_for is not None else None
            Engine(vec, policy_for(task) if policy_for else policy).play(
                todo, generator=generator, temperature=temperature, on_episode=write
            )
    return records


def episode_record(task: SuiteTask, episode: EpisodeTokens, *, sample: int, session: str, elapsed: float) -> dict[str, Any]:
    """What the report needs of one episode, and its conversation for people."""
    return {
        "format": FORMAT,
        "task": task.name,
        "env": task.env,
        "seed": episode.seed,
        "sample": sample,
        "reward": episode.total_reward,
        "outcome": episode.outcome,
        "stop_reason": episode.stop_reason,
        "error": episode.error,
        "turns": episode.turns,
        "policy_tokens": episode.policy_token_count(),
        "parts": episode.part_totals(),
        "session": session,
        "elapsed_s": round(elapsed, 4),
        "messages": episode.conversation,
    }


def read_records(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The finished episodes of an eval folder; a line torn by a kill is skipped (its episode runs again)."""
    path = Path(folder) / EPISODES_FILE
    return list(read_jsonl(path, FORMAT)) if path.exists() else []


def read_run(folder: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        raise EvalFolderError(f"expected an eval folder with {RUN_FILE} (made by turngym eval), got {folder}")
    return json.loads(path.read_text())


def _claim(folder: Path, run: dict[str, Any]) -> None:
    path = folder / RUN_FILE
    if path.exists():
        old = json.loads(path.read_text())
        differ = [key for key in run if old.get(key) != run[key]]
        if differ:
            raise EvalFolderError(
                f"{folder} holds an eval with another {', '.join(differ)}; resume it with the same settings or use a new --out"
            )
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(run, indent=1))
    tmp.replace(path)
