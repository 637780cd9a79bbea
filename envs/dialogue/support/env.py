"""``turngym/Support-v0``: a tau2-style customer-support domain (the agent side)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from turngym.envs.core import AgentEnv, Reply, Task
from turngym.envs.dialogue.support.agent import next_move
from turngym.envs.dialogue.support.checks import grade, outcome
from turngym.envs.dialogue.support.policy import POLICY
from turngym.envs.dialogue.support.rule_user import SupportRuleUser
from turngym.envs.dialogue.support.tasks import KINDS, SPLITS, check_kinds, make_task
from turngym.envs.dialogue.support.tools import SUPPORT_TOOLS
from turngym.envs.dialogue.user import UserSimulator, ended
from turngym.envs.hooks.base import weighted_sum
from turngym.envs.info import StepInfo
from turngym.envs.messages import Action, Message, copy_messages, user_message
from turngym.envs.parsers import ActionParser, ParsedAction

PARTS = ("db", "communicate", "actions")


def support_format_help(parser: ActionParser) -> str:
    """The parser's help with its answer tag read as "a message to the other side"."""
    tag = parser.answer_tag
    return parser.format_help().replace(
        ActionParser.format_help(parser), f"Write each message to the other side as <{tag}>...</{tag}>."
    )


def make_user(user: str | UserSimulator) -> UserSimulator:
    if user == "rule":
        return SupportRuleUser()
    if isinstance(user, UserSimulator):
        return user
    raise ValueError(f"user: expected 'rule' or a UserSimulator (start, respond, fork), got {user!r}")


class SupportEnv(AgentEnv):
    """A customer-support agent works on a generated shop database under a policy, talking with a simulated customer.

    Description:
        tau2-bench's shape on generated data. Each seed builds a database (customers, orders with
        items, prices and statuses) and a task of one of five kinds: ``cancel`` a pending order,
        ``cancel_refused`` (the order is past pending: refuse, naming its status), ``address``
        (change a pending or processing order's shipping address), ``refund`` (an item delivered
        within 30 days) and ``refund_transfer`` (delivered longer ago: transfer to a human). The
        customer (``user=``, a ``UserSimulator``; default the rule-based ``SupportRuleUser``) has
        the goal and private facts (email, zip code, order id, new address or item) and reveals
        each only when asked.

    Observation:
        Reset: a system prompt (the policy document, the tool schemas, the action format) and the
        customer's opening message. Step: tool messages for tool calls; the customer's reply as a
        user message for a message; a user message naming the problem for a malformed action.

    Action:
        Tool calls (``parser="hermes"`` default: ``<tool_call>{...}</tool_call>``; text beside
        them is not sent), or a message to the customer: ``<message>...</message>`` or plain text.
        Tools: find_customer_by_email (verifies identity; every order tool needs it), list_orders,
        get_order, cancel_order, change_address, refund_item, transfer_to_human.

    Rewards:
        At the end only. ``outcome`` = ``db`` x ``communicate`` x ``actions`` when the customer
        ends the conversation, else 0. ``db``: the final database hashes like a fresh one with the
        task's gold writes replayed; ``communicate``: each required string (an amount refunded, a
        status) is in some message to the customer, case-insensitively; ``actions``: each
        required tool call (transfer_to_human) ran. The three are reported with weight 0.

    Episode End:
        Terminated when the customer's reply ends with ``###STOP###`` or ``###TRANSFER###`` (or
        ``###OUT-OF-SCOPE###``). Truncated at ``max_turns`` (default 30), after
        ``max_invalid_actions`` malformed actions, or past ``token_budget``.

    Arguments:
        user: ``"rule"`` or a ``UserSimulator`` instance (forked for each episode).
        split: ``"train"`` (default), ``"test"`` (a disjoint fifth of tasks, by a hash of the
            task id) or None for both.
        kinds: the task kinds to draw from (default all five).
        n_customers: customers in each generated database.
        Plus every ``AgentEnv`` argument (parser, tools, budgets, process_rewards, reward_weights).

    Example:
        >>> import turngym
        >>> env = turngym.make("turngym/Support-v0")
        >>> obs, info = env.reset(seed=0)
        >>> [m["role"] for m in obs]
        ['system', 'user']
        >>> for _ in range(30):
        ...     obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        ...     if terminated or truncated:
        ...         break
        >>> info["stop_reason"], reward, info["reward_parts"]
        (<StopReason.ANSWERED: 'answered'>, 1.0, {'outcome': 1.0, 'db': 1.0, 'communicate': 1.0, 'actions': 1.0})
    """

    answer_tag = "message"

    def __init__(
        self,
        user: str | UserSimulator = "rule",
        split: str | None = "train",
        kinds: tuple[str, ...] = KINDS,
        n_customers: int = 6,
        **kwargs: Any,
    ):
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
        if not isinstance(n_customers, int) or n_customers < 1:
            raise ValueError(f"n_customers must be an int >= 1, got {n_customers!r}")
        self.user = make_user(user)
        self.split, self.kinds, self.n_customers = split, check_kinds(kinds), n_customers
        kwargs.setdefault("max_turns", 30)
        super().__init__(builtin_tools=SUPPORT_TOOLS, **kwargs)

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        return make_task(self.np_random, split=self.split, kinds=self.kinds, n_customers=self.n_customers)

    def system_prompt(self, task: Task) -> str:
        tools = "\n".join(json.dumps(t.schema) for t in self.tools.values())
        return f"{POLICY}\n## Tools\n{tools}\n\n## Format\n{support_format_help(self.parser)}"

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[list[Message], StepInfo]:
        _, info = super().reset(seed=seed, options=options)
        state = self._state()
        user = self.user.fork()
        opening = user.start(state.task.facts["profile"], int(self.np_random.integers(2**31)))
        state.messages[1] = user_message(opening)
        state.tokens = sum(self.count_tokens(m["content"]) for m in state.messages)
        state.data = {
            "db": copy.deepcopy(state.task.facts["db"]),
            "session": {"customer_id": None, "transferred": False},
            "user": user,
            "dialogue": [{"role": "user", "content": opening}],  # what was said, the tool calls left out
        }
        return copy_messages(state.messages), info

    def _hidden_args(self) -> dict[str, Any]:
        data = self._state().data
        return {"db": data["db"], "session": data["session"]}

    def _respond(self, parsed: ParsedAction) -> Reply:
        if parsed.tool_calls:
            return self._run_tools(parsed.tool_calls)
        text = (parsed.answer if parsed.answer is not None else parsed.text or "").strip()
        if not text:
            return self._reply_error("found no tool call and no message")
        data = self._state().data
        data["dialogue"].append({"role": "assistant", "content": text})
        answer = data["user"].respond(copy_messages(data["dialogue"]))
        data["dialogue"].append({"role": "user", "content": answer})
        if ended(answer) is None:
            return Reply(messages=[user_message(answer)])
        return Reply(messages=[user_message(answer)], outcome=outcome(self.grade()), done=True)

    def _reply_error(self, error: str) -> Reply:
        return Reply(messages=[user_message(f"Invalid action: {error}. {support_format_help(self.parser)}")], error=error)

    def grade(self) -> dict[str, float]:
        """The episode's ``db``, ``communicate`` and ``actions`` parts as they stand now."""
        state = self._state()
        said = [m["content"] for m in state.data["dialogue"] if m["role"] == "assistant"]
        return grade(state.task, state.data["db"], said, state.tool_calls)

    def step(self, action: Action) -> tuple[list[Message], float, bool, bool, StepInfo]:
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated or truncated:  # the basis parts beside the outcome (weight 0 by default)
            info["reward_parts"].update(self.grade())
            reward = weighted_sum(info["reward_parts"], self.reward_weights)
        return obs, reward, terminated, truncated, info

    def default_reward_weights(self) -> dict[str, float]:
        return dict.fromkeys(PARTS, 0.0)

    def oracle_action(self) -> Action | None:
        state = self._state()
        move = next_move(state.data["dialogue"], state.tool_calls)
        if move[0] == "call":
            return self.parser.render([(move[1], dict(move[2]))])
        return self.parser.render(answer=move[1])
