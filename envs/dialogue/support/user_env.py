"""``turngym/SupportUser-v0``: the Support domain from the customer's side (the policy plays the user)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from turngym.envs.core import AgentEnv, Reply, Task
from turngym.envs.dialogue.support.agent import extract, next_move
from turngym.envs.dialogue.support.checks import grade, outcome
from turngym.envs.dialogue.support.env import PARTS, support_format_help
from turngym.envs.dialogue.support.rule_user import SupportRuleUser
from turngym.envs.dialogue.support.tasks import KINDS, SPLITS, check_kinds, make_task
from turngym.envs.dialogue.support.tools import SUPPORT_TOOLS
from turngym.envs.dialogue.user import STOP, TRANSFER, UserProfile, ended
from turngym.envs.hooks.base import weighted_sum
from turngym.envs.info import StepInfo
from turngym.envs.messages import Action, Message, user_message
from turngym.envs.parsers import ParsedAction

GREETING = "Hi! How can I help you today?"
INVENTED_PENALTY = 0.5
MAX_AGENT_CALLS = 8  # tool calls the scripted agent may make before it must speak
USER_GUIDELINES = f"""You play a customer talking with a customer-support agent.
- Send one short message at a time, in your own words, following your scenario.
- Never invent information: give only the facts listed below, and only when the agent asks.
- When your goal is met, or the agent refuses it, end your message with {STOP}.
  If the agent transfers you to a human agent, end it with {TRANSFER}."""

_TOOLS = {t.name: t for t in SUPPORT_TOOLS}


def invented_facts(text: str, profile: UserProfile) -> list[str]:
    """The facts ``text`` states (an email, zip code, order id or new address) whose value is not the profile's."""
    facts = profile.facts
    return [name for name, value in extract([text]).items() if name not in facts or value.lower() != facts[name].lower()]


class SupportUserEnv(AgentEnv):
    """The customer's side of Support: the policy plays the user against the scripted support agent.

    Description:
        The same generated tasks as ``turngym/Support-v0``, seen from the other side. The policy
        gets the customer's scenario and private facts; the scripted agent (Support's oracle
        logic: it verifies identity, looks the order up, follows the policy, asks before a write)
        answers each message, using the tools on the database itself. Both sides are thus
        trainable: the user side learns to pursue a goal without inventing facts.

    Observation:
        Reset: a system prompt (user guidelines, the scenario, the facts, the format) and the
        agent's greeting as a user message. Step: the agent's next message as a user message, or a
        user message naming the problem with a malformed action.

    Action:
        The customer's message: ``<message>...</message>`` or plain text; ending it with
        ``###STOP###`` or ``###TRANSFER###`` ends the conversation.

    Rewards:
        At the end only. ``outcome`` = the task's outcome (``db`` x ``communicate`` x ``actions``,
        as in Support-v0, for what the agent did) minus 0.5 if the user stated any fact value
        (an email, zip code, order id or new address) that is not in its profile, when the user
        ends the conversation; 0 when a budget runs out. ``db``, ``communicate``, ``actions`` and
        ``invented`` (the count of invented values) are reported with weight 0.

    Episode End:
        Terminated when the user's message carries a marker (``###STOP###``, ``###TRANSFER###``,
        ``###OUT-OF-SCOPE###``). Truncated at ``max_turns`` (default 12), after
        ``max_invalid_actions`` malformed actions, or past ``token_budget``.

    Arguments:
        split, kinds, n_customers: as in Support-v0.
        Plus every ``AgentEnv`` argument (parser, tools, budgets, process_rewards, reward_weights).

    Example:
        >>> import turngym
        >>> env = turngym.make("turngym/SupportUser-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs[1]["content"]
        'Hi! How can I help you today?'
        >>> for _ in range(12):
        ...     obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        ...     if terminated or truncated:
        ...         break
        >>> reward, info["reward_parts"]["invented"]
        (1.0, 0.0)
    """

    answer_tag = "message"

    def __init__(self, split: str | None = "train", kinds: tuple[str, ...] = KINDS, n_customers: int = 6, **kwargs: Any):
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
        if not isinstance(n_customers, int) or n_customers < 1:
            raise ValueError(f"n_customers must be an int >= 1, got {n_customers!r}")
        self.split, self.kinds, self.n_customers = split, check_kinds(kinds), n_customers
        kwargs.setdefault("max_turns", 12)
        super().__init__(**kwargs)

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        task = make_task(self.np_random, split=self.split, kinds=self.kinds, n_customers=self.n_customers)
        return Task(id=task.id, prompt=GREETING, facts=task.facts)

    def system_prompt(self, task: Task) -> str:
        profile: UserProfile = task.facts["profile"]
        facts = "\n".join(f"- {name.replace('_', ' ')}: {value}" for name, value in profile.facts.items())
        return f"{USER_GUIDELINES}\n\nScenario: {profile.scenario}\n\nYour facts:\n{facts}\n\n{support_format_help(self.parser)}"

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[list[Message], StepInfo]:
        messages, info = super().reset(seed=seed, options=options)
        state = self._state()
        state.data = {
            "db": copy.deepcopy(state.task.facts["db"]),
            "session": {"customer_id": None, "transferred": False},
            "dialogue": [{"role": "assistant", "content": GREETING}],  # roles as the agent sees them
            "calls": [],  # the scripted agent's tool calls: name, arguments, ok, output
            "invented": 0,
        }
        return messages, info

    def _respond(self, parsed: ParsedAction) -> Reply:
        if parsed.tool_calls:
            return self._reply_error("the customer has no tools; write a message")
        text = (parsed.answer if parsed.answer is not None else parsed.text or "").strip()
        if not text:
            return self._reply_error("found no message")
        data = self._state().data
        data["dialogue"].append({"role": "user", "content": text})
        data["invented"] += len(invented_facts(text, self._state().task.facts["profile"]))
        if ended(text) is not None:
            return Reply(outcome=self._outcome(), done=True)
        return Reply(messages=[user_message(self._agent_turn(data))])

    def _agent_turn(self, data: dict[str, Any]) -> str:
        """The scripted agent's tool calls (run on the database) up to its next message, which it returns."""
        hidden = {"db": data["db"], "session": data["session"]}
        for _ in range(MAX_AGENT_CALLS):
            move = next_move(data["dialogue"], data["calls"])
            if move[0] == "say":
                break
            result = _TOOLS[move[1]].run(move[2], hidden)
            data["calls"].append({"name": move[1], "arguments": dict(move[2]), "ok": result.ok, "output": result.output})
        else:
            move = ("say", "Sorry, I cannot help with this; please contact us again.")
        data["dialogue"].append({"role": "assistant", "content": move[1]})
        return move[1]

    def grade(self) -> dict[str, float]:
        """``db``, ``communicate`` and ``actions`` for what the scripted agent did, and ``invented``."""
        state = self._state()
        said = [m["content"] for m in state.data["dialogue"] if m["role"] == "assistant"]
        return {**grade(state.task, state.data["db"], said, state.data["calls"]), "invented": float(state.data["invented"])}

    def _outcome(self) -> float:
        parts = self.grade()
        return outcome(parts) - INVENTED_PENALTY * (parts["invented"] > 0)

    def step(self, action: Action) -> tuple[list[Message], float, bool, bool, StepInfo]:
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated or truncated:
            info["reward_parts"].update(self.grade())
            reward = weighted_sum(info["reward_parts"], self.reward_weights)
        return obs, reward, terminated, truncated, info

    def default_reward_weights(self) -> dict[str, float]:
        return dict.fromkeys((*PARTS, "invented"), 0.0)

    def oracle_action(self) -> Action | None:
        """The rule-based user's next message (``SupportRuleUser`` on this task's profile)."""
        state = self._state()
        user = SupportRuleUser()
        user.start(state.task.facts["profile"], 0)
        return self.parser.render(answer=user.respond(state.data["dialogue"]))
