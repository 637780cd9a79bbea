"""Typed ``info`` and the reasons an episode stops."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypedDict


class StopReason(StrEnum):
    """Why an episode ended. ``answered`` terminates; the others truncate."""

    ANSWERED = "answered"
    MAX_TURNS = "max_turns"
    INVALID_ACTIONS = "invalid_actions"
    TOKEN_BUDGET = "token_budget"
    ERROR = "error"


class ToolCallRecord(TypedDict):
    """One tool call of a step, with its result."""

    id: str
    name: str
    arguments: dict[str, Any]
    ok: bool
    error_kind: str | None
    output: str


StepInfo = TypedDict(
    "StepInfo",
    {
        "task_id": str,
        "turn": int,
        "reward_parts": dict[str, float],
        "tool_calls": list[ToolCallRecord],
        "invalid_actions": int,
        "error": str | None,
        "stop_reason": StopReason | None,
        "tools/failure_rate": float,
        "new_context": bool,
    },
)
StepInfo.__doc__ = """The ``info`` of ``reset`` and ``step`` for every turngym env.

``reward_parts`` holds each part unweighted (``outcome`` at the episode's end, one entry per
process-reward hook); ``reward`` is their weighted sum. ``error`` is what the model was told
about a malformed action this step (None when the action was fine). ``stop_reason`` is None
until the episode ends. ``tools/failure_rate`` is the share of this episode's tool calls so far
that failed (unknown tool, bad arguments, the tool raised, its sandbox failed or timed out);
0.0 before the first call. ``new_context`` is True when the observation is the whole new context
(a memory env's next chunk with the memory in its system prompt), not an append to the last one.
"""


def make_step_info(
    *,
    task_id: str,
    turn: int,
    reward_parts: dict[str, float],
    tool_calls: list[ToolCallRecord],
    invalid_actions: int,
    error: str | None,
    stop_reason: StopReason | None,
    tool_failure_rate: float = 0.0,
    new_context: bool = False,
) -> StepInfo:
    """A ``StepInfo`` from keyword arguments (``tools/failure_rate`` is not a Python name)."""
    return {
        "task_id": task_id,
        "turn": turn,
        "reward_parts": reward_parts,
        "tool_calls": tool_calls,
        "invalid_actions": invalid_actions,
        "error": error,
        "stop_reason": stop_reason,
        "tools/failure_rate": tool_failure_rate,
        "new_context": new_context,
    }
