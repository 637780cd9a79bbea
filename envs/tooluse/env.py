"""``turngym/ToolUse-v0``: chains of calls over several different tools, scored ToolRL-style."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from turngym.envs.core import AgentEnv, Task
from turngym.envs.messages import Action
from turngym.envs.tooluse.answers import score_answer
from turngym.envs.tooluse.dates import date_add, days_between, weekday
from turngym.envs.tooluse.hooks import ArgumentMatch, ToolFormat, ToolNameMatch
from turngym.envs.tooluse.matching import replay
from turngym.envs.tooluse.table_query import query_table
from turngym.envs.tooluse.tasks import MAX_DIFFICULTY, SPLITS, make_task
from turngym.envs.tooluse.units import convert_units
from turngym.tools.calculator import calculator
from turngym.tools.core import Tool
from turngym.tools.python_tool import PythonTool
from turngym.tools.sandbox import Limits, Sandbox


class ToolUseEnv(AgentEnv):
    """Multi-step tasks that chain different tools, each call's output feeding the next.

    Description:
        Each task is generated from the seed: a small table (employees, products or cities;
        8-20 rows) and a chain of ``difficulty`` tool calls over ``query_table`` (read-only SQL
        on the table), ``convert_units``, ``calculator``, ``date_add``, ``days_between``,
        ``weekday`` and ``python`` (code in a sandbox), e.g. "Find the highest weight among the
        products in the Garden category. Convert that weight from kilograms to pounds. Multiply
        the result by 4." Tasks of difficulty 2-3 use at least two different tools, 4-6 at
        least three. The reference calls (with their outputs and dependencies) are in
        ``task.facts["calls"]``; the answer is what replaying them gives.

    Observation:
        New chat messages. Reset: a system prompt with the tool schemas and the action format,
        and the task (the table's schema, never its rows) as a user message. Step: one tool
        message per call (a plain number, ISO date or name, or small JSON rows), or a user
        message that says what was wrong with a malformed action.

    Action:
        ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (``parser="hermes"``,
        default), a message dict with OpenAI ``tool_calls``, or tags (``parser="tags"``);
        ``<answer>...</answer>`` ends the episode.

    Rewards:
        ``outcome``: 1.0 when the answer is right (numbers within 0.005 of the exact result,
        dates as ISO dates, days of the week by name), else 0.0; at the end.
        ``tool_name`` (weight 0.2): share of the step's calls naming the tool of a pending
        reference call. ``arguments`` (0.2): how well the paired calls' arguments match
        (names and values; free-form SQL, expressions and code by their output). ``format``
        (0.2): -1 for a malformed action, else 0. The process parts follow ToolRL; any valid
        order scores, and each reference call earns credit once.

    Episode End:
        Terminated on an answer. Truncated at ``max_turns`` (default: highest difficulty + 3),
        after ``max_invalid_actions`` malformed actions, or past ``token_budget``.

    Arguments:
        difficulty: required tool calls, 1..6, or a (low, high) range drawn per episode.
        split: ``"train"`` (default), ``"test"`` (a disjoint fifth of tasks, by a hash of the
            task) or None for both.
        python_tool: offer the ``python`` tool and draw tasks that need it (default True).
        sandbox: where ``python`` runs: ``"local"`` (default), ``"docker"`` or a ``Sandbox``.
        python_limits: a ``Limits`` for each ``python`` call (default: the sandbox's).
        rows: (low, high) rows per generated table, within 5..100 (default 8-20).
        Plus every ``AgentEnv`` argument (parser, tools, budgets, process_rewards, reward_weights).

    Example:
        >>> import gymnasium as gym, turngym
        >>> env = gym.make("turngym/ToolUse-v0", difficulty=2, python_tool=False)
        >>> obs, info = env.reset(seed=0)
        >>> [call["name"] for call in env.state.task.facts["calls"]]
        ['query_table', 'calculator']
        >>> while not info["stop_reason"]:
        ...     obs, reward, terminated, truncated, info = env.step(env.oracle_action())
        >>> info["reward_parts"]
        {'outcome': 1.0, 'format': 0.0}
    """

    instructions = (
        "You solve multi-step tasks with tools. Each step's result feeds the next: call a tool, read its output, "
        "and use that value in the next call."
    )

    def __init__(
        self,
        difficulty: int | tuple[int, int] = 2,
        split: str | None = "train",
        *,
        python_tool: bool = True,
        sandbox: str | Sandbox = "local",
        python_limits: Limits | None = None,
        rows: tuple[int, int] = (8, 20),
        **kwargs: Any,
    ):
        low, high = (difficulty, difficulty) if isinstance(difficulty, int) else tuple(difficulty)
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high <= MAX_DIFFICULTY):
            raise ValueError(
                f"difficulty must be an int in 1..{MAX_DIFFICULTY} or a (low, high) range within it, got {difficulty!r}"
            )
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
        if not (isinstance(rows, (tuple, list)) and len(rows) == 2 and all(isinstance(r, int) for r in rows)) or not (
            5 <= rows[0] <= rows[1] <= 100
        ):
            raise ValueError(f"rows must be a (low, high) pair of ints with 5 <= low <= high <= 100, got {rows!r}")
        self.difficulty_range = (low, high)
        self.split = split
        self.rows = (rows[0], rows[1])
        self.python_tool = bool(python_tool)
        tools: list[Tool] = [query_table, convert_units, calculator, date_add, days_between, weekday]
        if self.python_tool:
            tools.append(PythonTool(sandbox, limits=python_limits))
        kwargs.setdefault("max_turns", high + 3)
        super().__init__(builtin_tools=tools, **kwargs)

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        low, high = self.difficulty_range
        difficulty = int(options.get("difficulty", self.np_random.integers(low, high + 1)))
        return make_task(self.np_random, difficulty, python=self.python_tool, split=self.split, rows=self.rows)

    def _hidden_args(self) -> dict[str, Any]:
        return {**super()._hidden_args(), "table": self._state().task.facts["table"]}

    def _score_answer(self, answer: str) -> float:
        facts = self._state().task.facts
        return score_answer(answer, facts["result"], facts["answer_kind"])

    def default_process_rewards(self) -> list[Any]:
        return [ToolNameMatch(), ArgumentMatch(), ToolFormat()]

    def default_reward_weights(self) -> dict[str, float]:
        return {"tool_name": 0.2, "arguments": 0.2, "format": 0.2}

    def close(self) -> None:
        """Close the ``python`` tool's sandbox (a later call builds a new one)."""
        tool = self.tools.get("python")
        if isinstance(tool, PythonTool):
            tool.close()
        super().close()

    def oracle_action(self) -> Action | None:
        """The next pending reference call (one per turn), then the answer."""
        state = self._state()
        refs = state.task.facts["calls"]
        frontier = replay(refs, state.tool_calls).frontier(refs)
        if frontier:
            ref = refs[frontier[0]]
            return self.parser.render([(ref["name"], dict(ref["arguments"]))])
        return self.parser.render(answer=state.task.answer)
