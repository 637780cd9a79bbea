"""The Support grade, tau2's reward basis: ``db`` (the final database hashes like a fresh one with
the gold actions replayed), ``communicate`` (each required string appears in some agent message,
case-insensitively) and ``actions`` (each required tool call ran without error); the outcome is
their product."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from turngym.envs.core import Task
from turngym.envs.dialogue.support.db import Database, db_hash
from turngym.envs.dialogue.support.tasks import gold_db


def grade(task: Task, db: Database, agent_messages: Sequence[str], calls: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The parts ``db``, ``communicate`` and ``actions`` (each 0.0 or 1.0)."""
    said = [m.lower() for m in agent_messages]
    communicated = all(any(s.lower() in m for m in said) for s in task.facts["communicate"])
    acted = all(
        any(
            c["ok"] and c["name"] == a["name"] and all(c["arguments"].get(k) == v for k, v in a["arguments"].items())
            for c in calls
        )
        for a in task.facts["required_actions"]
    )
    return {"db": float(db_hash(db) == db_hash(gold_db(task))), "communicate": float(communicated), "actions": float(acted)}


def outcome(parts: Mapping[str, float]) -> float:
    return parts["db"] * parts["communicate"] * parts["actions"]
