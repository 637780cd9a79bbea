"""``turngym/Clarify-v0``: an underspecified problem; ask the user for the one missing value, then answer."""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from turngym.envs.core import AgentEnv, Reply, Task
from turngym.envs.dialogue.clarify_tasks import (
    DEFAULT_FAMILIES,
    FAMILIES,
    SPLITS,
    draw_problem,
    names_variable,
    normalise_answer,
    words,
)
from turngym.envs.dialogue.user import UserProfile, UserSimulator
from turngym.envs.hooks.base import StepContext
from turngym.envs.hooks.rules import TurnCost
from turngym.envs.messages import Action, Message, user_message
from turngym.envs.parsers import ParsedAction

ASK = re.compile(r"<ask>(.*?)</ask>", re.DOTALL)
UNKNOWN = "I don't know that. I can only tell you about my problem."


class ClarifyUser:
    """The problem's owner, by rule: for each variable its question names (every word of one of the
    variable's aliases appears in the question), it says the variable's sentence (the missing value,
    or a sentence already in the problem, repeated); for anything else it does not know."""

    name = "clarify-rule"

    def __init__(self) -> None:
        self.profile: UserProfile | None = None

    def start(self, profile: UserProfile, seed: int) -> str:
        if not isinstance(profile, UserProfile):
            raise TypeError(f"expected a UserProfile, got {type(profile).__name__}")
        self.profile = profile
        return profile.opening

    def respond(self, conversation: Sequence[Message]) -> str:
        if self.profile is None:
            raise RuntimeError("ClarifyUser.respond called before start(profile, seed)")
        question = _question(conversation)
        named = [n for n in self.profile.facts if names_variable(question, self.profile.asks_for(n))]
        return " ".join(self.profile.facts[n] for n in named) or UNKNOWN

    def fork(self) -> ClarifyUser:
        return copy.copy(self)  # the profile is frozen


class _Held:
    """A user simulator kept in ``state.data``: a deep copy of the episode forks it with ``fork()``."""

    def __init__(self, user: UserSimulator):
        self.user = user

    def __deepcopy__(self, memo: dict) -> _Held:
        return _Held(self.user.fork())


def info_gain(ctx: StepContext) -> float | None:
    """The drop in entropy over the missing value's candidates that this step's user reply caused
    (as the env reports it in ``extras``); None on steps without a question."""
    return (ctx.extras or {}).get("info_gain")


info_gain.name = "info_gain"  # type: ignore[attr-defined]


class ClarifyEnv(AgentEnv):
    """Solve a user's problem that leaves one value out: ask the user for it, then answer.

    Description:
        QuestBench-style underspecified problems with exactly one missing variable, generated from
        the seed: arithmetic word problems ("Mia buys some boxes of pens. Each box holds 6 pens.
        ..."; candidates 1..9), planning (a schedule with one missing duration; 1..5 hours) and
        logic (a comparison chain with one missing relation; two candidates); on request also
        booking ("Please book a taxi for Mia. I have not told you the hour."; the answer is the
        missing value itself: one of the 7 weekdays or an afternoon hour 1..8). The missing value
        is drawn uniformly from its candidates and every candidate gives a different answer, so a
        guess without asking is right with probability 1 / len(candidates). The simulated user
        (``user``) owns the problem: it knows the missing value; asked about a value the problem
        states, it repeats it (a question naming several variables gets each); asked anything
        else, it does not know. Each question is rewarded
        by its information gain (ProMed), the drop in entropy over the candidates.
    Observation:
        Reset: a system prompt with the action format, then the user's problem (the missing
        sentence made vague: "some boxes"). After ``<ask>``: the user's reply as a user message.
    Action:
        ``<ask>question</ask>``: a message to the user (one per turn); ``<answer>N</answer>``: the
        final answer (a number, an hour such as 17, a name or a weekday). ``</ask>`` is a stop string.
    Rewards:
        ``outcome``: 1.0 when the answer is right (case and a final full stop ignored; "17:00" =
        "17"), at the end. ``info_gain`` (hook, each ask step): entropy in bits of the uniform
        distribution over the candidates still possible before the reply minus after it (a value
        counts as told when a reply sentence that names the missing variable states it);
        log2(len(candidates)) for the question that names the missing variable, 0 for others;
        weight 0.1 (``normalise_info_gain=True`` divides by log2(len(candidates))). ``turn_cost``
        (hook): ``-turn_cost`` every step.
    Episode End:
        Terminated at the answer. Truncated after ``max_turns`` (default 6) or
        ``max_invalid_actions`` malformed actions (no tag, both tags, several ``<ask>``, an empty question).
    Arguments:
        split: "train" or "test" (disjoint (template, missing variable) units and person names).
        families: a list of "arithmetic", "planning", "logic", "booking" (default the first three).
        user: "rule" (``ClarifyUser``) or any ``UserSimulator`` (e.g. ``users.RuleUser()``), forked for
            every episode; its profile's facts are each variable's sentence, keyed by variable.
        turn_cost: the cost of a turn (default 0.05). normalise_info_gain: info gain in [0, 1].
        Plus every ``AgentEnv`` argument (default parser "tags").
    Example:
        >>> import turngym
        >>> env = turngym.make("turngym/Clarify-v0", families=["arithmetic"])
        >>> obs, info = env.reset(seed=0)
        >>> action = env.unwrapped.oracle_action()
        >>> action.startswith("<ask>") and action.endswith("</ask>")
        True
        >>> obs, reward, terminated, truncated, info = env.step(action)
        >>> round(info["reward_parts"]["info_gain"], 3), info["reward_parts"]["turn_cost"]
        (3.17, -0.05)
        >>> obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        >>> info["reward_parts"]["outcome"], str(info["stop_reason"])
        (1.0, 'answered')
    """

    instructions = (
        "A user brings you a problem that leaves one value out; only the user knows it. Ask the user for it "
        "with <ask>your question</ask> (one question per turn; the user replies), then answer."
    )
    default_parser = "tags"

    def __init__(
        self,
        split: str = "train",
        families: Sequence[str] = DEFAULT_FAMILIES,
        user: str | UserSimulator = "rule",
        turn_cost: float = 0.05,
        normalise_info_gain: bool = False,
        **kwargs: Any,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if isinstance(families, str) or not families or any(f not in FAMILIES for f in families):
            raise ValueError(f"families must be a non-empty list of {list(FAMILIES)}, got {families!r}")
        if user != "rule" and not isinstance(user, UserSimulator):
            raise TypeError(f"user must be 'rule' or a UserSimulator (name, start, respond, fork), got {user!r}")
        if isinstance(turn_cost, bool) or not isinstance(turn_cost, (int, float)) or not 0 <= turn_cost < math.inf:
            raise ValueError(f"turn_cost must be a number >= 0, got {turn_cost!r}")
        if not isinstance(normalise_info_gain, bool):
            raise TypeError(f"normalise_info_gain must be a bool, got {normalise_info_gain!r}")
        self.split, self.families = split, tuple(dict.fromkeys(families))
        self.user = ClarifyUser() if user == "rule" else user
        self.turn_cost, self.normalise_info_gain = float(turn_cost), normalise_info_gain
        kwargs.setdefault("max_turns", 6)
        super().__init__(**kwargs)

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        problem = draw_problem(self.np_random, self.split, self.families)
        return Task(id=problem.id, prompt=problem.text, answer=problem.answer, facts=dataclasses.asdict(problem))

    def profile(self, task: Task) -> UserProfile:
        """What the user knows: every variable's sentence (the missing one's with its true value)."""
        facts = task.facts
        scenario = f"You posed this problem: {task.prompt} You know what it leaves out: {facts['statements'][facts['missing']]}"
        return UserProfile(scenario=scenario, opening=task.prompt, facts=facts["statements"], aliases=facts["aliases"])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = super().reset(seed=seed, options=options)
        state = self._state()
        user = self.user.fork()
        opening = user.start(self.profile(state.task), seed=int(self.np_random.integers(2**31 - 1)))
        if opening != state.task.prompt:  # a user that words the problem its own way
            state.messages[-1] = obs[-1] = user_message(opening)
            state.tokens = sum(self.count_tokens(m["content"]) for m in state.messages)
        state.data.update(user=_Held(user), possible=list(state.task.facts["candidates"]), asked_missing=False)
        return obs, info

    def system_prompt(self, task: Task) -> str:
        return f"{self.instructions}\n{self.parser.format_help()}"

    def _respond(self, parsed: ParsedAction) -> Reply:
        if parsed.tool_calls:
            return self._reply_error("this env has no tools; write <ask>question</ask> or <answer>...</answer>")
        questions = ASK.findall(parsed.text)
        if parsed.answer is not None:
            if questions:
                return self._reply_error("send either <ask> or <answer> in one turn, not both")
            return Reply(outcome=self._score_answer(parsed.answer), done=True)
        if parsed.text.count("<ask>") != len(questions):
            return self._reply_error("<ask> is not closed; write <ask>question</ask>")
        if len(questions) != 1:
            found = "no <ask>question</ask> and no <answer>" if not questions else f"{len(questions)} <ask> blocks"
            return self._reply_error(f"found {found}; ask one question per turn or answer")
        if not questions[0].strip():
            return self._reply_error("the question in <ask></ask> is empty")
        return self._ask(questions[0].strip())

    def _ask(self, question: str) -> Reply:
        state = self._state()
        facts = state.task.facts
        data = state.data
        reply = data["user"].user.respond(list(state.messages))
        before = data["possible"]
        told = told_values(reply, facts)
        after = [c for c in before if c in told] if told else before
        data["possible"] = after or before  # a reply that contradicts earlier ones tells nothing
        data["asked_missing"] |= names_variable(question, facts["aliases"][facts["missing"]])
        gain = math.log2(len(before)) - math.log2(len(data["possible"]))
        if self.normalise_info_gain:
            gain /= math.log2(len(facts["candidates"]))
        return Reply(messages=[user_message(reply)], extras={"info_gain": gain, "question": question})

    def _score_answer(self, answer: str) -> float:
        return float(normalise_answer(answer) == normalise_answer(self._state().task.answer or ""))

    def oracle_action(self) -> Action | None:
        state = self._state()
        facts, data = state.task.facts, state.data
        if len(data["possible"]) > 1 and not data["asked_missing"]:
            return f"<ask>What is the {facts['aliases'][facts['missing']][0]}?</ask>"  # the variable's label
        return self.parser.render(answer=facts["answers"][data["possible"][0]])

    def default_process_rewards(self) -> list[Any]:
        return [info_gain, TurnCost(cost=self.turn_cost)]

    def default_reward_weights(self) -> dict[str, float]:
        return {"info_gain": 0.1}

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return (*super().stop_strings, "</ask>")


def told_values(reply: str, facts: Mapping[str, Any]) -> set[str]:
    """The candidate values of the missing variable that ``reply`` states: its sentence with that
    value ("Mia buys 7 boxes of pens."), or a sentence that names it (by an alias) and the value."""
    flat = " ".join(reply.lower().split())
    told = {c for c, sentence in facts["reveals"].items() if " ".join(sentence.lower().split()) in flat}
    aliases = facts["aliases"][facts["missing"]]
    for sentence in re.split(r"(?<=[.!?])\s+", reply):
        if names_variable(sentence, aliases):
            told |= {c for c in facts["candidates"] if c.lower() in words(sentence)}
    return told


def _question(conversation: Sequence[Message]) -> str:
    """The last assistant message's ``<ask>`` text (or its whole text)."""
    for message in reversed(conversation):
        if message.get("role") == "assistant":
            text = message.get("content") or ""
            asked = ASK.findall(text) if isinstance(text, str) else []
            return asked[-1] if asked else (text if isinstance(text, str) else "")
    return ""
