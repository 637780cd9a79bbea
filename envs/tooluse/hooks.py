"""Process hooks after ToolRL (Qian et al., 2025, "ToolRL: Reward is All Tool Learning Needs").

ToolRL scores a predicted call against the ground-truth call by tool name, parameter names and
parameter values, and the output's format. In a multi-turn episode the ground truth of a step is
the *frontier* of the reference calls (``matching.py``): any call whose inputs are known may come
next, so a valid order other than the reference's scores the same. A reference call earns credit
once (a retry earns again only when it fully matches), so repeating calls pays nothing.

All three read ``facts["calls"]`` and return None on envs without reference calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from turngym.envs.hooks.base import Score, StepContext
from turngym.envs.tooluse.matching import Pairing, argument_score, pair_calls, replay


def _pairing(ctx: StepContext, key: str) -> Pairing | None:
    refs = ctx.facts.get(key)
    if not refs or not ctx.tool_calls:
        return None
    return pair_calls(refs, ctx.tool_calls, replay(refs, ctx.past_tool_calls))


@dataclass(frozen=True)
class ToolNameMatch:
    """The share of this step's calls that name the tool of a pending reference call, in [0, 1];
    None on steps without tool calls."""

    calls_key: str = "calls"
    name: str = "tool_name"

    def score_batch(self, contexts: Sequence[StepContext]) -> list[Score]:
        scores: list[Score] = []
        for ctx in contexts:
            pairing = _pairing(ctx, self.calls_key)
            scores.append(None if pairing is None else len(pairing.pairs) / pairing.calls)
        return scores


@dataclass(frozen=True)
class ArgumentMatch:
    """For the calls paired with a pending reference call of the same tool: the mean of 1.0 for a full
    match, else ToolRL's parameter score (argument-name Jaccard and share of matching values, halved
    each), in [0, 1]; None when no call was paired."""

    calls_key: str = "calls"
    name: str = "arguments"

    def score_batch(self, contexts: Sequence[StepContext]) -> list[Score]:
        scores: list[Score] = []
        for ctx in contexts:
            pairing = _pairing(ctx, self.calls_key)
            if pairing is None or not pairing.pairs:
                scores.append(None)
                continue
            refs = ctx.facts[self.calls_key]
            values = [1.0 if full else argument_score(ctx.tool_calls[i], refs[j]) for i, j, full in pairing.pairs]
            scores.append(sum(values) / len(values))
        return scores


@dataclass(frozen=True)
class ToolFormat:
    """0.0 when the action parsed to well-formed calls of known tools with valid arguments, or to an
    answer; ``malformed`` (default -1.0) otherwise. ``think=True`` also asks for a ``<think>...</think>``
    block first, as ToolRL's format does. A penalty rather than a bonus: a bonus per well-formed step
    would pay a policy for spending turns."""

    malformed: float = -1.0
    think: bool = False
    name: str = "format"

    def score_batch(self, contexts: Sequence[StepContext]) -> list[Score]:
        return [self.malformed if self._bad(ctx) else 0.0 for ctx in contexts]

    def _bad(self, ctx: StepContext) -> bool:
        if ctx.action_error or (not ctx.parsed.tool_calls and ctx.parsed.answer is None):
            return True
        if self.think:
            text = ctx.parsed.text.lstrip()
            return not (text.startswith("<think>") and "</think>" in text)
        return False
