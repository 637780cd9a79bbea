"""``AgentEnv``: the one env contract every turngym environment follows.

A subclass supplies a task (``_make_task``), its tools, how an answer scores (``_score_answer``)
and, optionally, an oracle (``oracle_action``). The base class does the rest: the first prompt,
parsing, malformed actions as observations, tool calls, budgets, process rewards, typed info,
``fork()``.
"""

from __future__ import annotations

import abc
import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

from turngym.envs.errors import ResetNeeded
from turngym.envs.hooks.base import StepContext, as_hooks, score_steps, weighted_sum
from turngym.envs.info import StepInfo, StopReason, ToolCallRecord, make_step_info
from turngym.envs.messages import Action, Message, check_action, copy_messages, system_message, tool_message, user_message
from turngym.envs.parsers import ActionParser, ParsedAction, ToolCall, make_parser
from turngym.envs.spaces import AssistantActionSpace, MessagesSpace
from turngym.tools.core import ERROR_LABELS, Tool


@dataclass(frozen=True)
class Task:
    """One task: what the model is asked, the reference answer, and facts for hooks and oracles."""

    id: str
    prompt: str
    answer: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class EpisodeState:
    """Everything an episode accumulates, kept from step to step; ``fork()`` copies it.

    Messages and tool-call records are never edited once appended, so a fork shares them and
    copies only the lists; ``data`` (an env's own state, e.g. the queries asked so far) is deep-copied.
    """

    task: Task
    messages: list[Message]
    turn: int = 0
    invalid_actions: int = 0
    tokens: int = 0
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    stop_reason: StopReason | None = None
    data: dict[str, Any] = field(default_factory=dict)
    context_starts: list[int] = field(default_factory=lambda: [0])  # where each context begins in ``messages``

    def fork(self) -> EpisodeState:
        return replace(
            self,
            messages=list(self.messages),
            tool_calls=list(self.tool_calls),
            data=copy.deepcopy(self.data),
            context_starts=list(self.context_starts),
        )

    @property
    def contexts(self) -> list[list[Message]]:
        """The messages split into the episode's contexts (one unless the env reset its context)."""
        bounds = [*self.context_starts, len(self.messages)]
        return [self.messages[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@dataclass(slots=True)
class LastStep:
    """What the last ``step()`` leaves for its callers; every step replaces it with a new one.

    ``prefetched``: what ``prefetch_batch`` did for this step (moved here from the env's
    ``pending_prefetch``). ``metrics``: wall-clock figures such as retrieval seconds (kept out of
    info). ``scratch``: a subclass's bookkeeping within the step (the documents each tool call
    showed). ``pending`` holds what ``context``, the step's ``StepContext``, is built from on first
    access (``AgentEnv.last_context``).
    """

    prefetched: Mapping[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    scratch: dict[str, Any] = field(default_factory=dict)
    pending: tuple[Any, ...] | None = None
    context: StepContext | None = None


EPISODE_ATTRIBUTES = frozenset({"state", "last_step", "pending_prefetch", "_np_random", "_np_random_seed", "action_space"})
"""The env attributes an episode changes (``fork()`` gives the copy its own of each); every other
attribute is configuration, set in ``__init__`` and left alone by ``reset()`` and ``step()``."""


@dataclass(slots=True)
class Reply:
    """What the env answers to one parsed action."""

    messages: list[Message] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    error: str | None = None
    outcome: float | None = None
    done: bool = False
    fatal: str | None = None  # a fatal tool error: the episode ends with stop reason ``error``
    extras: dict[str, Any] = field(default_factory=dict)
    new_context: bool = False  # ``messages`` are the whole next context (system prompt first), not an append


def clone_rng(rng: np.random.Generator | None) -> np.random.Generator | None:
    """A generator in the same state (several times cheaper than ``deepcopy``)."""
    if rng is None:
        return None
    bit_generator = type(rng.bit_generator)(0)
    bit_generator.state = rng.bit_generator.state
    return np.random.Generator(bit_generator)


def approx_token_count(text: str) -> int:
    """About four characters a token; pass a tokenizer's counter for exact budgets."""
    return (len(text) + 3) // 4


class AgentEnv(gym.Env[list[Message], Action], abc.ABC):
    """Base class of turngym envs (see the module docstring; subclasses carry the env card).

    Where things live (``EPISODE_ATTRIBUTES``; the conformance check ``episode_state`` holds
    every registered env to it):
        state: the episode, everything kept from one step to the next (``EpisodeState``; an env's
            own data goes in ``state.data``).
        last_step: what the last step leaves for callers (``LastStep``: its context, metrics and
            scratch); ``step()`` replaces it, never edits the previous one.
        pending_prefetch: what ``prefetch_batch`` did for the coming step; ``step()`` takes it.
        np_random, action_space: the episode's random generators (``fork()`` clones them).
        Everything else: configuration (tools, parser, hooks, budgets), fixed after ``__init__``
        and shared by forks.

    Arguments shared by every env:
        parser: ``"hermes"``, ``"openai"``, ``"tags"`` or an ``ActionParser``.
        tools: extra tools offered beside the env's own (``add_tools`` adds more later).
        fatal_tool_errors: tool error kinds that end the episode (stop reason ``error``), e.g.
            ``("sandbox",)``; by default no tool failure ends it (``ToolError(fatal=True)`` does).
        max_turns: truncate after this many actions (stop_reason ``max_turns``).
        max_invalid_actions: truncate after this many malformed actions (``invalid_actions``).
        max_action_chars: longer actions are malformed.
        max_tool_calls: at most this many tool calls in one action.
        token_budget: truncate when the conversation exceeds it (``token_budget``); None for none.
        count_tokens: counts tokens of a text for the budget (default: characters / 4).
        process_rewards: hooks scored every step (None: the env's defaults; [] for none).
        reward_weights: weight per reward part or hook name (default 1.0; ``outcome`` included).
        render_mode: None or ``"ansi"``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 1}
    fork_mode: ClassVar[Literal["copy", "replay"]] = "copy"
    instructions: ClassVar[str] = "Solve the task."
    default_parser: ClassVar[str] = "hermes"
    answer_tag: ClassVar[str] = "answer"

    def __init__(
        self,
        *,
        builtin_tools: Sequence[Tool] = (),
        tools: Sequence[Tool] = (),
        parser: str | ActionParser | None = None,
        max_turns: int = 16,
        max_invalid_actions: int = 3,
        max_action_chars: int = 32_768,
        max_tool_calls: int = 8,
        fatal_tool_errors: Sequence[str] = (),
        token_budget: int | None = None,
        count_tokens: Callable[[str], int] | None = None,
        process_rewards: Sequence[Any] | None = None,
        reward_weights: Mapping[str, float] | None = None,
        render_mode: str | None = None,
    ):
        for name, value, low in [
            ("max_turns", max_turns, 1),
            ("max_invalid_actions", max_invalid_actions, 1),
            ("max_action_chars", max_action_chars, 1),
            ("max_tool_calls", max_tool_calls, 1),
        ]:
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        unknown_kinds = sorted(set(fatal_tool_errors) - set(ERROR_LABELS))
        if isinstance(fatal_tool_errors, str) or unknown_kinds:
            raise ValueError(f"fatal_tool_errors must be a sequence of {sorted(ERROR_LABELS)}, got {fatal_tool_errors!r}")
        self.fatal_tool_errors = frozenset(fatal_tool_errors)
        self.tools: dict[str, Tool] = {}
        self._parser_spec = parser or self.default_parser
        self._set_tools([*builtin_tools, *tools])
        self.max_turns = max_turns
        self.max_invalid_actions = max_invalid_actions
        self.max_action_chars = max_action_chars
        self.max_tool_calls = max_tool_calls
        self.token_budget = token_budget
        self.count_tokens = count_tokens or approx_token_count
        self.hooks = as_hooks(self.default_process_rewards() if process_rewards is None else process_rewards)
        self.reward_weights = {**self.default_reward_weights(), **dict(reward_weights or {})}
        self.render_mode = render_mode
        self.observation_space = MessagesSpace()
        self.action_space = AssistantActionSpace(list(self.tools.values()), self.parser)
        self.state: EpisodeState | None = None
        self.last_step = LastStep()
        self.pending_prefetch: Mapping[str, Any] | None = None

    # ---- what subclasses provide -------------------------------------------------------------
    @abc.abstractmethod
    def _make_task(self, options: Mapping[str, Any]) -> Task:
        """A new task drawn with ``self.np_random``."""

    def _score_answer(self, answer: str) -> float:
        """The outcome reward of a final answer (default: exact match after stripping)."""
        task = self._state().task
        return float(task.answer is not None and answer.strip() == task.answer.strip())

    def _hidden_args(self) -> dict[str, Any]:
        """Values for tools' hidden arguments, by name."""
        state = self._state()
        return {"task": state.task, "state": state.data}

    def default_process_rewards(self) -> list[Any]:
        return []

    def default_reward_weights(self) -> dict[str, float]:
        return {}

    def oracle_action(self) -> Action | None:
        """The next action of a reference solution, or None where the env has no oracle."""
        return None

    @classmethod
    def prefetch_batch(cls, envs: Sequence[AgentEnv], actions: Sequence[Action]) -> None:
        """Called by vector envs before stepping ``envs`` (all of this class) with ``actions``, so
        that work the steps share (one batched retrieval for all queries) is done once. It sets each
        env's ``pending_prefetch`` to a new mapping; the env's next step reads it as
        ``last_step.prefetched``."""

    @classmethod
    def reset_batch(
        cls, envs: Sequence[AgentEnv], requests: Sequence[tuple[int | None, dict[str, Any] | None]]
    ) -> list[tuple[Any, StepInfo]]:
        """Reset ``envs`` (all of this class, unwrapped) with their (seed, options); what each
        ``reset`` returns, in order. Vector envs call it; a class whose resets wait on I/O (a page
        load) overrides it to overlap them."""
        return [env.reset(seed=seed, options=options) for env, (seed, options) in zip(envs, requests, strict=True)]

    # ---- the Gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[list[Message], StepInfo]:
        super().reset(seed=seed)
        task = self._make_task(options or {})
        messages = [system_message(self.system_prompt(task)), user_message(task.prompt)]
        self.state = EpisodeState(task=task, messages=list(messages))
        self.state.tokens = sum(self.count_tokens(m["content"]) for m in messages)
        self.last_step, self.pending_prefetch = LastStep(), None
        return copy_messages(messages), self._info({}, [], None)

    def step(self, action: Action) -> tuple[list[Message], float, bool, bool, StepInfo]:
        state = self.state
        if state is None or state.stop_reason is not None:
            raise ResetNeeded(
                f"{type(self).__name__}: call reset() before step()"
                if state is None
                else f"the episode ended ({state.stop_reason}); call reset() before step()"
            )
        state.turn += 1
        self.last_step = last = LastStep(prefetched=self.pending_prefetch or {})
        self.pending_prefetch = None
        n_history, n_past_calls = len(state.messages), len(state.tool_calls)
        checked = check_action(action, self.max_action_chars)
        if checked.error:
            parsed = ParsedAction(error=checked.error)
        else:
            parsed = self.parser.parse(action if checked.text is None else checked.text, turn=state.turn)
        state.messages.append(checked.message)
        reply = self._reply_error(parsed.error) if parsed.error else self._respond(parsed)
        if reply.error:
            state.invalid_actions += 1
        count = self.count_tokens
        state.tokens += count(_text_of(checked.message))
        if reply.new_context:  # the token budget bounds one context, as a model's window does
            state.context_starts.append(len(state.messages))
            state.tokens = 0
        if reply.messages:
            state.messages.extend(reply.messages)
            state.tokens += sum(count(_text_of(m)) for m in reply.messages)
        if reply.tool_calls:
            state.tool_calls.extend(reply.tool_calls)
        terminated = reply.done and reply.fatal is None
        if reply.fatal is not None:
            stop: StopReason | None = StopReason.ERROR
        else:
            stop = StopReason.ANSWERED if terminated else self._budget_stop(state)
        truncated = stop is not None and not terminated
        state.stop_reason = stop
        new_context = reply.new_context and stop is None
        if reply.new_context and not new_context:  # the episode ended: its last reply closes the last context
            state.context_starts.pop()
        parts: dict[str, float] = {"outcome": float(reply.outcome or 0.0)} if stop is not None else {}
        last.pending = (state, state.turn, n_history, n_past_calls, parsed, reply, terminated, truncated)
        if self.hooks:
            parts.update(score_steps(self.hooks, [self.last_context])[0])
        reward = weighted_sum(parts, self.reward_weights) if parts else 0.0
        error = reply.error if reply.fatal is None else "; ".join(filter(None, [reply.error, reply.fatal]))
        info = self._info(parts, reply.tool_calls, error, new_context=new_context)
        return copy_messages(reply.messages), reward, terminated, truncated, info

    @property
    def last_context(self) -> StepContext | None:
        """The ``StepContext`` of the last step (built on first access), for hooks run elsewhere;
        None after ``reset()`` and in a new fork."""
        last = self.last_step
        if last.context is None and last.pending is not None:
            state, turn, n_history, n_past_calls, parsed, reply, terminated, truncated = last.pending
            last.context = StepContext(
                env_id=self.spec.id if self.spec else type(self).__name__,
                task_id=state.task.id,
                task=state.task.prompt,
                turn=turn,
                history=tuple(state.messages[:n_history]),
                action=state.messages[n_history],
                parsed=parsed,
                tool_calls=tuple(reply.tool_calls),
                observation=tuple(reply.messages),
                facts=state.task.facts,
                past_tool_calls=tuple(state.tool_calls[:n_past_calls]),
                action_error=reply.error,
                terminated=terminated,
                truncated=truncated,
                outcome=reply.outcome,
                extras=reply.extras,
            )
        return last.context

    @property
    def step_metrics(self) -> Mapping[str, float]:
        """Wall-clock figures of the last step (retrieval seconds, ...), kept out of info; read-only
        (a subclass writes ``self.last_step.metrics`` during the step)."""
        return MappingProxyType(self.last_step.metrics)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.state is None:
            return None
        return "\n\n".join(f"[{m['role']}] {_text_of(m)}" for m in self.state.messages)

    def fork(self) -> AgentEnv:
        """An independent copy of the current episode that shares tools, parser and hooks.

        The copy gets its own state, random generators and a fresh ``last_step`` (it has taken no
        step yet: ``last_context`` is None); a pending prefetch stays with the original.
        """
        state = self._state()
        new = copy.copy(self)
        new.state = state.fork()
        new.last_step, new.pending_prefetch = LastStep(), None
        new._np_random = clone_rng(self._np_random)
        new.action_space = copy.copy(self.action_space)
        new.action_space._np_random = clone_rng(self.action_space._np_random)
        return new

    def export_episode(self) -> tuple[EpisodeState, np.random.Generator | None, np.random.Generator | None]:
        """The running episode as plain data (its state and copies of its random generators), for
        ``import_episode`` in an env of the same kind elsewhere (a fork across worker processes)."""
        return self._state().fork(), clone_rng(self._np_random), clone_rng(self.action_space._np_random)

    def import_episode(self, episode: tuple[EpisodeState, np.random.Generator | None, np.random.Generator | None]) -> None:
        """Continue the episode ``export_episode`` gave, as ``fork()`` would: this env's own episode ends."""
        state, rng, space_rng = episode
        self.state = state.fork()
        self.last_step, self.pending_prefetch = LastStep(), None
        self._np_random = clone_rng(rng)
        self.action_space._np_random = clone_rng(space_rng)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """The strings that end an action in this env's format (its parser's ``stop_strings``): a
        sampling policy stops at the first of them, e.g. ``("</tool_call>", "</answer>")``."""
        return self.parser.stop_strings

    # ---- tools --------------------------------------------------------------------------------
    @property
    def tool_schemas(self) -> list[dict[str, Any]]:
        """The OpenAI function schemas of every tool, for a chat template's ``tools=``."""
        return [t.schema for t in self.tools.values()]

    def add_tools(self, tools: Sequence[Tool]) -> None:
        """Offer more tools from the next ``reset`` on (the parser and action space follow)."""
        self._set_tools([*self.tools.values(), *tools])
        self.action_space = AssistantActionSpace(list(self.tools.values()), self.parser)

    def _set_tools(self, all_tools: list[Tool]) -> None:
        bad = [t for t in all_tools if not isinstance(t, Tool)]
        if bad:
            raise TypeError(f"tools must be turngym Tool objects (use @tool), got {bad[0]!r}")
        names = [t.name for t in all_tools]
        if len(set(names)) != len(names):
            raise ValueError(f"tool names must be unique, got {names}")
        self.tools = {t.name: t for t in all_tools}
        self.parser = make_parser(self._parser_spec, all_tools, self.answer_tag)

    # ---- the default tool-use turn -------------------------------------------------------------
    def system_prompt(self, task: Task) -> str:
        """The first message: instructions, tool schemas and the action format."""
        lines = [self.instructions]
        if self.tools:
            lines.append("You can call these tools:")
            lines.extend(json.dumps(t.schema) for t in self.tools.values())
        lines.append(self.parser.format_help())
        return "\n".join(lines)

    def _respond(self, parsed: ParsedAction) -> Reply:
        if parsed.answer is not None:
            return Reply(outcome=self._score_answer(parsed.answer), done=True)
        if parsed.tool_calls:
            return self._run_tools(parsed.tool_calls)
        return self._reply_error("found no tool call and no final answer")

    def _run_tools(self, calls: Sequence[ToolCall]) -> Reply:
        if len(calls) > self.max_tool_calls:
            return self._reply_error(f"{len(calls)} tool calls in one turn; the limit is {self.max_tool_calls}")
        messages, records, errors = [], [], []
        fatal: list[str] = []
        hidden = self._hidden_args()
        for call in calls:
            tool = self.tools.get(call.name)
            if tool is None:
                ok, output, kind = (
                    False,
                    f"no tool named {call.name!r}; available: {', '.join(self.tools) or 'none'}",
                    "unknown_tool",
                )
            else:
                result = tool.run(call.arguments, hidden)
                ok, output, kind = result.ok, result.output, result.error_kind
                if not ok and (result.fatal or kind in self.fatal_tool_errors):
                    fatal.append(f"fatal tool error in {call.name}: {output}")
            label = ERROR_LABELS.get(kind or "")
            content = f"Error ({label}): {output}" if label else output
            if kind in ("unknown_tool", "arguments"):
                errors.append(content)
            messages.append(tool_message(call.id, call.name, content))
            records.append(
                ToolCallRecord(
                    id=call.id, name=call.name, arguments=copy.deepcopy(call.arguments), ok=ok, error_kind=kind, output=content
                )
            )
        return Reply(
            messages=messages,
            tool_calls=records,
            error="; ".join(errors) or None,
            done=bool(fatal),
            fatal="; ".join(fatal) or None,
        )

    def _reply_error(self, error: str) -> Reply:
        return Reply(messages=[user_message(f"Invalid action: {error}. {self.parser.format_help()}")], error=error)

    # ---- helpers -----------------------------------------------------------------------------
    def _state(self) -> EpisodeState:
        if self.state is None:
            raise ResetNeeded(f"{type(self).__name__}: call reset() before step() or fork()")
        return self.state

    def _budget_stop(self, state: EpisodeState) -> StopReason | None:
        if state.invalid_actions >= self.max_invalid_actions:
            return StopReason.INVALID_ACTIONS
        if self.token_budget is not None and state.tokens >= self.token_budget:
            return StopReason.TOKEN_BUDGET
        if state.turn >= self.max_turns:
            return StopReason.MAX_TURNS
        return None

    def _info(
        self, parts: dict[str, float], calls: list[ToolCallRecord], error: str | None, *, new_context: bool = False
    ) -> StepInfo:
        """The step's typed info; ``parts`` must be a dict made for this step (it is handed out)."""
        state = self._state()
        return make_step_info(
            task_id=state.task.id,
            turn=state.turn,
            reward_parts=parts,
            tool_calls=copy.deepcopy(calls) if calls else [],
            invalid_actions=state.invalid_actions,
            error=error,
            stop_reason=state.stop_reason,
            tool_failure_rate=_failure_rate(state.tool_calls),
            new_context=new_context,
        )


def _failure_rate(calls: list[ToolCallRecord]) -> float:
    """The share of ``calls`` that failed (0.0 for none)."""
    return sum(not call["ok"] for call in calls) / len(calls) if calls else 0.0


def _text_of(message: Message) -> str:
    content = message.get("content") or ""
    if message.get("tool_calls"):
        content += json.dumps(message["tool_calls"], default=str)
    return content
