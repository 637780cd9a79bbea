"""Process-reward hooks: the protocol, batched scoring, and the rule hooks every env can use."""

from turngym.envs.hooks.base import FunctionHook, Hook, Score, StepContext, as_hook, as_hooks, score_steps, weighted_sum
from turngym.envs.hooks.llm_judge import LLMJudge
from turngym.envs.hooks.rules import FormatReward, RepeatPenalty, TurnCost, ValidToolCall

__all__ = [
    "FormatReward",
    "FunctionHook",
    "Hook",
    "LLMJudge",
    "RepeatPenalty",
    "Score",
    "StepContext",
    "TurnCost",
    "ValidToolCall",
    "as_hook",
    "as_hooks",
    "score_steps",
    "weighted_sum",
]
