"""A conversation as the exact token ids a model policy saw, with what it sampled marked for training;
``Sample``, one sampled action."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

from turngym.envs.messages import Action, Message

FinishReason = Literal["stop", "eos", "length"]


@dataclass
class Sample:
    """One sampled action: tokens exactly as sampled (up to and including the stop/eos token).

    ``message`` is set where the action is an assistant message dict (OpenAI ``tool_calls``)
    rather than text; ``token_ids`` and ``logprobs`` are empty for policies that do not see tokens
    (scripted, random, an endpoint that returns none).
    """

    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: FinishReason
    message: dict | None = None

    @property
    def action(self) -> Action:
        """What the env is stepped with: the message dict where there is one, else the text."""
        return self.message if self.message is not None else self.text


@dataclass
class TokenTrajectory:
    """The whole conversation as token ids; ``mask`` marks the tokens the policy sampled.

    ``token_ids``, ``mask`` and ``logprobs`` have one entry per token. ``mask`` is 1 for sampled
    tokens (trained on) and 0 for prompt and env tokens; ``logprobs`` holds the sampling log-probs
    where ``mask`` is 1 and 0.0 elsewhere. ``messages`` is the conversation as chat messages (the
    policy renders the env's next messages against it); ``turn_starts`` holds the index of the first
    sampled token of each policy turn.
    """

    token_ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    turn_starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        lengths = {len(self.token_ids), len(self.mask), len(self.logprobs)}
        if len(lengths) != 1:
            raise ValueError(
                f"expected token_ids, mask and logprobs of one length, got {len(self.token_ids)}, {len(self.mask)}, "
                f"{len(self.logprobs)}"
            )
        bad = next((m for m in self.mask if m not in (0, 1)), None)
        if bad is not None:
            raise ValueError(f"expected mask values 0 or 1, got {bad!r}")

    def __len__(self) -> int:
        return len(self.token_ids)

    def extend_prompt(self, token_ids: list[int]) -> None:
        """Append prompt or env tokens (mask 0, log-prob 0.0)."""
        self.token_ids.extend(token_ids)
        self.mask.extend([0] * len(token_ids))
        self.logprobs.extend([0.0] * len(token_ids))

    def extend_policy(self, token_ids: list[int], logprobs: list[float]) -> None:
        """Append tokens the policy sampled (mask 1) with their sampling log-probs."""
        if len(token_ids) != len(logprobs):
            raise ValueError(f"expected one log-prob per sampled token, got {len(logprobs)} for {len(token_ids)} tokens")
        self.turn_starts.append(len(self.token_ids))
        self.token_ids.extend(token_ids)
        self.mask.extend([1] * len(token_ids))
        self.logprobs.extend(float(x) for x in logprobs)

    def copy(self) -> TokenTrajectory:
        """An independent copy (lists and messages copied), e.g. to branch k continuations."""
        return TokenTrajectory(
            list(self.token_ids), list(self.mask), list(self.logprobs), copy.deepcopy(self.messages), list(self.turn_starts)
        )

    def policy_token_count(self) -> int:
        """How many tokens the policy sampled (mask 1)."""
        return sum(self.mask)

    def policy_token_ids(self) -> list[int]:
        """The sampled tokens in order (the tokens with mask 1)."""
        return [t for t, m in zip(self.token_ids, self.mask, strict=True) if m]
