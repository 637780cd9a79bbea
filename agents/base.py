"""The policy protocols.

``TokenPolicy`` is what the rollout engine and every trainer use: a policy keeps each episode as a
``TokenTrajectory`` (``start``), samples k next actions of many trajectories in one call
(``sample``), adds the chosen one (``append``) and the env's reply (``observe``). ``HFPolicy`` and
``OpenAIPolicy`` implement it. ``Policy`` (``act_batch``: conversations in, actions out) is the
short form for scripted and random policies; ``as_token_policy`` adapts it. ``EnvAwarePolicy``
reads the envs themselves (the oracle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from turngym.agents.trajectory import Sample, TokenTrajectory
from turngym.envs.messages import Action, Message, copy_messages


@dataclass
class PolicyOutput:
    """One sampled action; model policies also return the exact token ids and log-probs."""

    action: Action
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None


@runtime_checkable
class Policy(Protocol):
    """Maps each conversation (the policy keeps it; the env sends only new messages) to an action."""

    def act_batch(self, conversations: Sequence[Sequence[Message]]) -> list[PolicyOutput]: ...


@runtime_checkable
class EnvAwarePolicy(Protocol):
    """A policy that reads the env itself (an oracle): asks a vector env for its envs' actions."""

    def act_envs(self, vec: Any, indices: Sequence[int]) -> dict[int, Action]: ...


@runtime_checkable
class TokenPolicy(Protocol):
    """A policy over token trajectories: start, sample k with settings, append, observe.

    ``sample`` takes per-call overrides of the policy's own settings: ``temperature`` (0: greedy),
    ``max_new_tokens`` and ``stop`` (the strings that end an action; by default the policy's, which
    come from the env's parser).
    """

    def start(self, messages: Sequence[Message]) -> TokenTrajectory: ...

    def sample(
        self,
        trajs: Sequence[TokenTrajectory],
        k: int = 1,
        *,
        generator: Any = None,
        temperature: float | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> list[list[Sample]]: ...

    def append(self, traj: TokenTrajectory, sample: Sample) -> None: ...

    def observe(self, traj: TokenTrajectory, new_messages: Sequence[Message]) -> None: ...


class MessagePolicy:
    """An ``act_batch`` policy as a ``TokenPolicy``: trajectories hold messages only, samples carry no tokens.

    >>> from turngym.agents.scripted import ScriptedPolicy
    >>> policy = as_token_policy(ScriptedPolicy(lambda conversation: "<guess>50</guess>"))
    >>> traj = policy.start([{"role": "user", "content": "Guess."}])
    >>> [s.text for s in policy.sample([traj], 2)[0]]
    ['<guess>50</guess>', '<guess>50</guess>']
    """

    def __init__(self, policy: Policy):
        self.policy = policy

    def start(self, messages: Sequence[Message]) -> TokenTrajectory:
        return TokenTrajectory(messages=copy_messages(list(messages)))

    def sample(self, trajs: Sequence[TokenTrajectory], k: int = 1, **settings: Any) -> list[list[Sample]]:
        """k actions per trajectory (``act_batch`` on each conversation k times); settings do not apply."""
        conversations = [t.messages for t in trajs for _ in range(k)]
        outputs = self.policy.act_batch(conversations) if conversations else []
        if len(outputs) != len(conversations):
            raise ValueError(f"the policy returned {len(outputs)} actions for {len(conversations)} conversations")
        samples = [output_sample(out) for out in outputs]
        return [samples[i * k : (i + 1) * k] for i in range(len(trajs))]

    def append(self, traj: TokenTrajectory, sample: Sample) -> None:
        traj.extend_policy(list(sample.token_ids), list(sample.logprobs))
        traj.messages.append(sample.message if sample.message is not None else {"role": "assistant", "content": sample.text})

    def observe(self, traj: TokenTrajectory, new_messages: Sequence[Message]) -> None:
        traj.messages.extend(copy_messages(list(new_messages)))


def output_sample(out: PolicyOutput) -> Sample:
    """A ``PolicyOutput`` as a ``Sample`` (a message action keeps its dict; tokens where the policy gave them)."""
    action = out.action
    message = action if isinstance(action, dict) else None
    text = (action.get("content") or "") if message is not None else str(action)
    ids = list(out.token_ids or [])
    logprobs = list(out.logprobs or []) if len(out.logprobs or []) == len(ids) else [0.0] * len(ids)
    return Sample(token_ids=ids, logprobs=logprobs, text=text, finish_reason="stop", message=message)


def as_token_policy(policy: Any) -> TokenPolicy:
    """``policy`` itself when it is a ``TokenPolicy``, an ``act_batch`` policy adapted by ``MessagePolicy``.

    Env-aware policies (the oracle) are played by the engine directly; anything else is an error.
    """
    if isinstance(policy, TokenPolicy):
        return policy
    if isinstance(policy, Policy):
        return MessagePolicy(policy)
    raise TypeError(
        f"expected a policy with start/sample/append/observe (TokenPolicy) or act_batch (Policy), got {type(policy).__name__}"
    )
