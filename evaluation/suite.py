"""Eval suites: env IDs with their held-out seeds and arguments, from a shipped name, a YAML file or ``--env`` IDs.

A suite file::

    name: search
    tasks:
      - env: turngym/MultiHopQA-v0
        kwargs: {split: test}      # the env's held-out questions, where it has a split
        seeds: 16                  # 16 seeds from EVAL_SEED_BASE; or a list of seeds; or {start: S, count: N}
        label: multihop            # optional: the name in reports (default: the env ID)

Held-out seeds start at ``EVAL_SEED_BASE``; trainers draw training seeds below it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

EVAL_SEED_BASE = 1_000_000_007  # evaluation tasks use seeds from here on; training seeds stay below


def _suites_folder():
    return resources.files("turngym.evaluation").joinpath("suites")


class SuiteError(ValueError):
    """A suite name, file or entry is not what a suite must be."""


@dataclass(frozen=True)
class SuiteTask:
    """One env of a suite: its ID, keyword arguments and the seeds of its tasks."""

    env: str
    seeds: tuple[int, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.env

    def as_dict(self) -> dict[str, Any]:
        return {"env": self.env, "kwargs": dict(self.kwargs), "seeds": list(self.seeds), "label": self.name}


@dataclass(frozen=True)
class Suite:
    name: str
    tasks: tuple[SuiteTask, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tasks": [t.as_dict() for t in self.tasks]}

    def fingerprint(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


def shipped_suites() -> list[str]:
    """The names of the suites that ship with turngym (one per env family, and ``all``)."""
    return sorted(p.name.removesuffix(".yaml") for p in _suites_folder().iterdir() if p.name.endswith(".yaml"))


def load_suite(name_or_path: str, *, seeds: int | None = None) -> Suite:
    """A shipped suite by name or a suite YAML file; ``seeds`` caps each task's seed count (a quick run)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise SuiteError(f"expected a suite YAML file, got {name_or_path!r} (no such file)")
        text = path.read_text()
    elif name_or_path in shipped_suites():
        text = _suites_folder().joinpath(f"{name_or_path}.yaml").read_text()
    else:
        raise SuiteError(f"expected a suite file or one of the shipped suites {shipped_suites()}, got {name_or_path!r}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteError(f"{name_or_path}: not valid YAML ({exc})") from None
    return parse_suite(data, default_name=path.stem, max_seeds=seeds)


def parse_suite(data: Any, *, default_name: str = "suite", max_seeds: int | None = None) -> Suite:
    """A ``Suite`` from the mapping a suite file holds."""
    if not isinstance(data, Mapping) or not isinstance(data.get("tasks"), list) or not data["tasks"]:
        raise SuiteError(f"expected a mapping with a non-empty 'tasks' list, got {data!r:.200}")
    tasks = tuple(_task(entry, i, max_seeds) for i, entry in enumerate(data["tasks"]))
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise SuiteError(f"task names must differ (give a 'label' to repeated env IDs), got {names}")
    return Suite(str(data.get("name") or default_name), tasks)


def env_suite(env_ids: Sequence[str], seeds: int, kwargs: Mapping[str, Any] | None = None) -> Suite:
    """A suite of ``env_ids`` with ``seeds`` held-out seeds each (``turngym eval --env ID``)."""
    return parse_suite({"name": "envs", "tasks": [{"env": e, "seeds": seeds, "kwargs": dict(kwargs or {})} for e in env_ids]})


def _task(entry: Any, index: int, max_seeds: int | None) -> SuiteTask:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("env"), str):
        raise SuiteError(f"task {index}: expected a mapping with an 'env' ID, got {entry!r:.200}")
    unknown = set(entry) - {"env", "kwargs", "seeds", "label"}
    if unknown:
        raise SuiteError(f"task {index} ({entry['env']}): unknown keys {sorted(unknown)}; expected env, kwargs, seeds, label")
    kwargs = entry.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise SuiteError(f"task {index} ({entry['env']}): 'kwargs' must be a mapping, got {kwargs!r}")
    seeds = _seeds(entry.get("seeds", 8), f"task {index} ({entry['env']})")
    if max_seeds is not None:
        seeds = seeds[:max_seeds]
    return SuiteTask(entry["env"], seeds, dict(kwargs), str(entry.get("label") or ""))


def _seeds(spec: Any, where: str) -> tuple[int, ...]:
    if isinstance(spec, bool):
        raise SuiteError(f"{where}: 'seeds' must be a count, a list of ints or {{start, count}}, got {spec!r}")
    if isinstance(spec, int) and spec >= 1:
        return tuple(range(EVAL_SEED_BASE, EVAL_SEED_BASE + spec))
    if isinstance(spec, list) and spec and all(isinstance(s, int) and not isinstance(s, bool) for s in spec):
        if len(set(spec)) != len(spec):
            raise SuiteError(f"{where}: seeds repeat in {spec}")
        return tuple(spec)
    if (
        isinstance(spec, Mapping)
        and set(spec) == {"start", "count"}
        and all(isinstance(v, int) for v in spec.values())
        and spec["count"] >= 1
    ):
        return tuple(range(spec["start"], spec["start"] + spec["count"]))
    raise SuiteError(f"{where}: 'seeds' must be a count >= 1, a list of distinct ints or {{start, count}}, got {spec!r}")
