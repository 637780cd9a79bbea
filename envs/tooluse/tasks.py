"""ToolUse tasks: a seeded table and a chain of ``difficulty`` reference calls over several tools,
each call feeding the next, with the answer the calls produce.

``facts["calls"]`` holds the reference calls in a valid order: ``{"name", "arguments", "output",
"after"}``, where ``after`` lists the calls whose outputs this one uses (any order that respects
it is valid).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from turngym.envs.core import Task
from turngym.envs.tooluse.answers import answer_kind, canonical_answer
from turngym.envs.tooluse.chain import Chain, Reject, Value
from turngym.envs.tooluse.steps import STARTS, STEPS, Step
from turngym.envs.tooluse.tables import TABLES, describe_table, make_table

MAX_DIFFICULTY = 6
SPLITS = ("train", "test")
TEST_FRACTION = 0.2
MAX_DRAWS = 500
_START_WEIGHTS = {"count_rows": 1.0, "aggregate": 1.0, "lookup": 1.0, "given_quantity": 1.0, "given_date": 0.7}
_INSTRUCTIONS = {
    "number": "Answer with the final number rounded to 2 decimal places, as <answer>NUMBER</answer>.",
    "date": "Answer with the final date as <answer>YYYY-MM-DD</answer>.",
    "text": "Answer with the day of the week as <answer>DAY</answer>.",
}


def min_distinct_tools(difficulty: int) -> int:
    """How many different tools a task of this difficulty uses at least."""
    return 1 if difficulty == 1 else 2 if difficulty <= 3 else 3


def task_split(task_id: str) -> str:
    """``"test"`` for a ``TEST_FRACTION`` share of task ids (by a hash), else ``"train"``."""
    h = int.from_bytes(hashlib.blake2b(task_id.encode(), digest_size=8).digest(), "big")
    return "test" if h / 2**64 < TEST_FRACTION else "train"


def make_task(
    rng: np.random.Generator,
    difficulty: int,
    *,
    python: bool = True,
    split: str | None = None,
    rows: tuple[int, int] = (8, 20),
) -> Task:
    """A task needing exactly ``difficulty`` tool calls, drawn with ``rng`` (from ``split`` when given)."""
    if isinstance(difficulty, bool) or not isinstance(difficulty, int) or not 1 <= difficulty <= MAX_DIFFICULTY:
        raise ValueError(f"difficulty: expected an int in 1..{MAX_DIFFICULTY}, got {difficulty!r}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"split: expected 'train', 'test' or None, got {split!r}")
    for _ in range(MAX_DRAWS):
        try:
            chain, result = _draw(rng, difficulty, python, rows)
        except Reject:
            continue
        if len(chain.tools_used) < min_distinct_tools(difficulty):
            continue
        task = _to_task(chain, result, difficulty)
        if split is None or task_split(task.id) == split:
            return task
    raise RuntimeError(f"no task of difficulty {difficulty} in {MAX_DRAWS} draws (python={python}, split={split!r})")


def _choose(chain: Chain, steps: list[Step], weights: list[float]) -> Step:
    x = chain.rng.random() * sum(weights)
    for step, weight in zip(steps, weights, strict=True):
        x -= weight
        if x < 0:
            return step
    return steps[-1]


def _draw(rng: np.random.Generator, difficulty: int, python: bool, rows: tuple[int, int]) -> tuple[Chain, Value]:
    spec = TABLES[sorted(TABLES)[int(rng.integers(len(TABLES)))]]
    table = make_table(rng, spec, int(rng.integers(rows[0], rows[1] + 1)))
    chain = Chain(rng, spec, table, python)
    try:
        return chain, _extend(chain, difficulty)
    finally:
        chain.close()


def _extend(chain: Chain, difficulty: int) -> Value:
    """Run a start and then steps until the chain holds ``difficulty`` calls; the final value."""
    start = _choose(chain, list(STARTS), [_START_WEIGHTS[s.name] for s in STARTS])
    value = start.apply(chain, None)
    chain.steps.append(start.name)
    while len(chain.calls) < difficulty:
        remaining = difficulty - len(chain.calls)
        options = [
            s for s in STEPS if s.cost <= remaining and (not s.terminal or s.cost == remaining) and s.accepts(chain, value)
        ]
        if not options:
            raise Reject(f"nothing can follow {value}")
        last = chain.calls[-1]["name"] if chain.calls else None
        weights = [(0.25 if s.tool == last else 1.0) * (1.5 if s.name == "python" else 1.0) for s in options]
        step = _choose(chain, options, weights)
        value = step.apply(chain, value)
        chain.steps.append(step.name)
    if value.kind not in ("date", "text") and abs(value.number) < 0.005:
        raise Reject("a zero answer is too easy to guess")
    return value


def _to_task(chain: Chain, result: Value, difficulty: int) -> Task:
    kind = answer_kind(result.kind)
    parts = []
    if "query_table" in chain.tools_used:
        parts.append(describe_table(chain.spec, len(chain.table["rows"])))
    parts.extend([" ".join(chain.sentences), _INSTRUCTIONS[kind]])
    prompt = "\n".join(parts)
    digest = hashlib.blake2b(prompt.encode(), digest_size=6).hexdigest()
    facts: dict[str, Any] = {
        "calls": chain.calls,
        "difficulty": difficulty,
        "steps": chain.steps,
        "tools": [c["name"] for c in chain.calls],
        "table": chain.table,
        "answer_kind": kind,
        "result": result.text,
    }
    return Task(id=f"tooluse-d{difficulty}-{digest}", prompt=prompt, answer=canonical_answer(result.text, kind), facts=facts)
