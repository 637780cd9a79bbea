"""``turngym/MemoryQA-v0`` and ``turngym/MemAgent-v0``: read a long stream chunk by chunk into memory, then answer from it."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from turngym.envs.core import AgentEnv, Reply, Task
from turngym.envs.memory.hooks import MEMORY_HOOKS, fact_held, fact_in_text
from turngym.envs.memory.streams import COMPETENCIES, MemoryStream, exact_match, multihop
from turngym.envs.messages import Action, system_message, user_message
from turngym.envs.parsers import ParsedAction
from turngym.memory import MEMORY_TOOLS, MemoryBank
from turngym.memory.tools import memory_from_action

MemoryMode = Literal["tools", "overwrite"]
NO_MEMORY = "No previous memory"
_ANSWER_AFTER_STREAM = "answers come after the stream; store what matters now (or reply <next>...</next> to read on)"


@functools.lru_cache(maxsize=64)
def _stream(seed: int, settings: tuple[tuple[str, Any], ...]) -> MemoryStream:
    """The stream of a task (a pure function of its seed and settings; cached, never mutated)."""
    options = dict(settings)
    if options.pop("kind") == "multihop":
        return multihop(seed, **options)
    return MemoryStream(seed=seed, **options)


class MemoryQAEnv(AgentEnv):
    """Read a long stream chunk by chunk, keep what matters in memory, then answer questions from memory alone.

    Description:
        MemoryAgentBench's "inject once, query many": a stream of real text (Wikipedia summaries
        and the generated encyclopedia) with generated facts no model can know (people, places,
        codes, serial-numbered updates) is shown one chunk per context; then each question gets a
        context of its own. Competencies: accurate retrieval (AR), test-time learning (TTL),
        long-range understanding (LRU), conflict resolution (CR: answer with the newest update),
        multi-hop (MH). Streams are built lazily: chunk i costs the same at 1k and at 1M+ tokens.
    Observation:
        Every chunk and every question starts a new context (``info["new_context"]``): a system
        prompt with the instructions and the memory, then the chunk ("Chunk 3 of 40: ...") or the
        question. Within a question's context, tool results are appended as usual.
    Action:
        ``memory="tools"`` (default, Mem-alpha): tool calls ``new_memory_insert(memory_type,
        content)``, ``memory_update(memory_type, new_content, memory_id)``, ``memory_delete``,
        ``search_memory(memory_type, query, search_method)`` (core memory is always shown; semantic
        and episodic items have ids); their results come back in the chunk's context. Text without
        calls, such as ``<next>done</next>``, moves on to the next chunk.
        ``memory="overwrite"`` (MemAgent): the action is the new memory, ``<memory>...</memory>`` (or the whole text), at most
        ``memory_chars`` characters. Questions: ``<answer>...</answer>``.
    Rewards:
        ``outcome``: the share of questions answered right (substring exact match after
        normalisation, the best over the gold answers), at the end. Step-level memory hooks
        (the ``memory`` hook in ``process_rewards``): ``memory/store`` (the share of the chunk's facts
        that a question will need and that the memory now holds; with ``question_first`` the value
        alone holds a fact whose subject a question names), ``memory/keep`` (the share of the needed
        facts read earlier, newest versions, that the memory still holds), ``memory/update`` (the share of
        the chunk's needed updates whose new value replaced the stale one), ``memory/search`` (a
        ``search_memory`` call returned what the question needs), ``memory/compression`` (at the
        end, Mem-alpha's 0.05 x (1 - memory characters / stream characters)).
    Episode End:
        Terminated after the last question's answer. Truncated after ``max_turns`` (default:
        chunks + 2 per planted fact + 4 per question) or ``max_invalid_actions`` malformed actions; an answer during
        the stream is malformed.
    Arguments:
        stream_tokens, chunk_tokens: stream and chunk length in whitespace words (1k to 1M+).
        num_facts, num_updates, num_questions, competencies: what the stream plants and asks.
        memory: "tools" or "overwrite". memory_chars: the overwrite memory's (and core memory's) bound.
        split: "train" or "test" (disjoint names and question wordings). haystack: "wiki+world" or
        "world". question_first: show the question in every chunk's context (MemAgent).
        names: 0 (default) invents fresh names per task; n > 0 draws them from a fixed pool of n words
        per split (a small vocabulary, for tiny models). town_names: 0 (default) or n > 0: towns from a
        fixed pool of n words of their own (told from people by the word alone). needle_position:
        "random" (default: each fact at a random sentence boundary of its chunk) or "end" (a chunk's
        facts close it, right before the memory is written: an easier copy, for tiny models).
        attributes: None (default: all) or the attributes facts draw from, e.g. ["lives_in"] (every
        answer a one-word town, for tiny models).
        Plus every ``AgentEnv`` argument.
    Example:
        >>> import turngym
        >>> env = turngym.make("turngym/MemoryQA-v0", stream_tokens=600, chunk_tokens=200, num_facts=3,
        ...                    num_updates=1, num_questions=2, competencies=["AR", "CR"], haystack="world")
        >>> obs, info = env.reset(seed=0)
        >>> obs[1]["content"][:11]
        'Chunk 1 of '
        >>> total = 0.0
        >>> while True:
        ...     obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        ...     total += reward
        ...     if terminated or truncated:
        ...         break
        >>> info["reward_parts"]["outcome"], str(info["stop_reason"])
        (1.0, 'answered')
    """

    instructions = (
        "You read a long text one chunk at a time and cannot see earlier chunks again. Keep in memory "
        "what later questions may ask about (people, places, codes, the newest updates); then answer from memory."
    )
    default_parser = "hermes"
    stream_kind = "stream"

    def __init__(
        self,
        stream_tokens: int = 2_000,
        chunk_tokens: int = 500,
        num_facts: int = 6,
        num_updates: int = 2,
        num_questions: int = 4,
        competencies: Sequence[str] = ("AR", "CR"),
        memory: MemoryMode = "tools",
        memory_chars: int = 1_024,
        split: str = "train",
        haystack: str = "wiki+world",
        question_first: bool = False,
        names: int = 0,
        town_names: int = 0,
        needle_position: str = "random",
        attributes: Sequence[str] | None = None,
        **kwargs: Any,
    ):
        self._names, self._town_names, self._needle_position = names, town_names, needle_position
        self._attributes = None if attributes is None else tuple(attributes)
        if memory not in ("tools", "overwrite"):
            raise ValueError(f"memory must be 'tools' or 'overwrite', got {memory!r}")
        if not isinstance(memory_chars, int) or memory_chars < 16:
            raise ValueError(f"memory_chars must be an int >= 16, got {memory_chars!r}")
        unknown = [c for c in competencies if c not in COMPETENCIES]
        if isinstance(competencies, str) or unknown:
            raise ValueError(f"competencies must be a list of {list(COMPETENCIES)}, got {competencies!r}")
        self.memory_mode, self.memory_chars, self.question_first = memory, memory_chars, question_first
        self.settings = self._settings(
            stream_tokens, chunk_tokens, num_facts, num_updates, num_questions, tuple(competencies), split, haystack
        )
        probe = _stream(0, self.settings)  # bad settings fail here, with the stream's own message
        kwargs.setdefault("max_turns", probe.num_chunks + 2 * len(probe.facts) + 4 * len(probe.questions))
        kwargs.setdefault("parser", "hermes" if memory == "tools" else "tags")
        super().__init__(builtin_tools=list(MEMORY_TOOLS) if memory == "tools" else [], **kwargs)

    def _settings(self, stream_tokens, chunk_tokens, num_facts, num_updates, num_questions, competencies, split, haystack):
        return tuple(
            sorted(
                {
                    "kind": "stream",
                    "stream_tokens": stream_tokens,
                    "chunk_tokens": chunk_tokens,
                    "num_facts": num_facts,
                    "num_updates": num_updates,
                    "num_questions": num_questions,
                    "competencies": tuple(competencies),
                    "split": split,
                    "haystack": haystack,
                    "names": self._names,
                    "town_names": self._town_names,
                    "needle_position": self._needle_position,
                    "attributes": self._attributes,
                }.items()
            )
        )

    # ---- the task and its contexts ----------------------------------------------------------------
    @property
    def stream(self) -> MemoryStream:
        return _stream(self._state().task.facts["stream_seed"], self.settings)

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        seed = int(self.np_random.integers(2**31 - 1))
        stream = _stream(seed, self.settings)
        questions = stream.questions
        needed = sorted({fid for q in questions for fid in q.fact_ids})
        facts = {
            "stream_seed": seed,
            "num_chunks": stream.num_chunks,
            "questions": [{"text": q.text, "answers": list(q.answers), "fact_ids": list(q.fact_ids)} for q in questions],
            "needed": needed,
        }
        return Task(id=f"memory-{seed}", prompt=self._chunk_prompt(stream, 0), answer=None, facts=facts)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = super().reset(seed=seed, options=options)
        data = self.state.data
        data.update(chunk=0, question=-1, correct=[], stream_chars=len(self.stream.chunk(0)))
        data["memory"] = MemoryBank(core_max_chars=self.memory_chars) if self.memory_mode == "tools" else ""
        return obs, info

    def system_prompt(self, task: Task) -> str:
        return self._system(NO_MEMORY)

    def _system(self, memory_text: str) -> str:
        help_text = self.parser.format_help()
        if self.memory_mode == "tools":
            help_text = f"Store facts with the memory tools, one call a turn; reply <next>...</next> to read on. {help_text}"
        else:
            limit = self.memory_chars
            help_text = (
                f"After each chunk, write your whole new memory as <memory>...</memory> (at most {limit} characters). {help_text}"
            )
        lines = [self.instructions]
        if self.tools:
            lines.append("You can call these tools:")
            lines.extend(_schema_line(t.schema) for t in self.tools.values())
        lines += [help_text, "", "Your memory:", memory_text or NO_MEMORY]
        return "\n".join(lines)

    def _memory_text(self) -> str:
        memory = self._state().data["memory"]
        return memory if isinstance(memory, str) else memory.render()

    def _chunk_prompt(self, stream: MemoryStream, index: int) -> str:
        head = ""
        if self.question_first:
            head += "".join(f"Question: {q.text}\n" for q in stream.questions) + "\n"
        return f"{head}Chunk {index + 1} of {stream.num_chunks}:\n{stream.chunk(index)}"

    def _context(self, user_text: str) -> Reply:
        return Reply(messages=[system_message(self._system(self._memory_text())), user_message(user_text)], new_context=True)

    def _question_prompt(self, index: int) -> str:
        questions = self._state().task.facts["questions"]
        how = "Search your memory if you need to, then answer" if self.memory_mode == "tools" else "Answer from your memory"
        return f"Question {index + 1} of {len(questions)}: {questions[index]['text']}\n{how} with <answer>...</answer>."

    # ---- steps -------------------------------------------------------------------------------------
    def _respond(self, parsed: ParsedAction) -> Reply:
        data = self._state().data
        if data["question"] < 0:
            return self._read_chunk(parsed)
        return self._answer_question(parsed)

    def _read_chunk(self, parsed: ParsedAction) -> Reply:
        state, stream = self._state(), self.stream
        data = state.data
        if parsed.answer is not None:
            return self._reply_error(_ANSWER_AFTER_STREAM)
        index = data["chunk"]
        if self.memory_mode == "tools":
            data["memory"].now = index
            if parsed.tool_calls:  # memory operations on this chunk; their results come back in this context
                return self._run_tools(parsed.tool_calls)
        else:
            data["memory"] = memory_from_action(parsed.text, self.memory_chars)
        extras = self._chunk_report(stream, index)
        data["chunk"] = index + 1
        if index + 1 < stream.num_chunks:
            data["stream_chars"] += len(stream.chunk(index + 1))
            reply = self._context(self._chunk_prompt(stream, index + 1))
        else:
            data["question"] = 0
            reply = self._context(self._question_prompt(0))
        reply.extras = extras
        return reply

    def _chunk_report(self, stream: MemoryStream, index: int) -> dict[str, Any]:
        """What the memory hooks score after reading chunk ``index``: the needed facts and updates it held."""
        facts = self._state().task.facts
        needed, memory = set(facts["needed"]), self._state().data["memory"]
        named = " ".join(q["text"].lower() for q in facts["questions"]) if self.question_first else ""

        def held(fact: Any) -> bool:
            return fact_held(memory, fact, subject_named=fact.subject.lower() in named)

        here = [f for f in stream.facts_in_chunk(index) if f.id in needed]
        stored = [f.id for f in here if held(f)]
        by_id = {f.id: f for f in stream.facts}
        updates = [f for f in here if f.replaces]
        replaced = [f.id for f in updates if held(f) and not held(by_id[f.replaces])]
        stale = {f.replaces for f in stream.facts if f.replaces and f.chunk <= index}
        before = [f for f in stream.facts if f.id in needed and f.chunk < index and f.id not in stale]
        return {"phase": "chunk", "chunk": index, "needed_here": [f.id for f in here], "stored": stored,
                "updates_here": [f.id for f in updates], "replaced": replaced,
                "needed_before": [f.id for f in before], "kept": [f.id for f in before if held(f)]}  # fmt: skip

    def _answer_question(self, parsed: ParsedAction) -> Reply:
        data = self._state().data
        questions = self._state().task.facts["questions"]
        question = questions[data["question"]]
        if parsed.answer is None:
            if not parsed.tool_calls or self.memory_mode != "tools":
                return self._reply_error("answer with <answer>...</answer>" + (" or search your memory" if self.tools else ""))
            reply = self._run_tools(parsed.tool_calls)
            by_id = {f.id: f for f in self.stream.facts}
            wanted = _latest(self.stream, [by_id[fid] for fid in question["fact_ids"]])  # CR: the newest value only
            searched = [r["output"] for r in reply.tool_calls if r["name"] == "search_memory" and r["ok"]]
            found = [any(fact_in_text(out, f) for out in searched) for f in wanted] if searched else []
            reply.extras = {"phase": "search", "searched": bool(searched), "found": found}
            return reply
        data["correct"].append(exact_match(parsed.answer, question["answers"]))
        data["question"] += 1
        extras = {"phase": "answer", "correct": data["correct"][-1]}
        if data["question"] < len(questions):
            reply = self._context(self._question_prompt(data["question"]))
            reply.extras = extras
            return reply
        memory = data["memory"]
        held = len(memory) if isinstance(memory, str) else memory.size_chars()
        extras.update(memory_chars=held, stream_chars=data["stream_chars"])
        return Reply(outcome=sum(data["correct"]) / len(questions), done=True, extras=extras)

    # ---- the oracle: stores what will be asked, answers from its own memory ------------------------
    def oracle_action(self) -> Action | None:
        state = self._state()
        data, stream = state.data, self.stream
        needed = set(state.task.facts["needed"])
        if data["question"] < 0:
            here = [f for f in stream.facts_in_chunk(data["chunk"]) if f.id in needed]
            if self.memory_mode == "overwrite":
                return f"<memory>{_overwrite_memory(data['memory'], here, stream, self.memory_chars)}</memory>"
            todo = [f for f in here if not fact_held(data["memory"], f)]  # one memory operation per action
            return self.parser.render([_store_call(data["memory"], todo[0], stream)]) if todo else "<next>read on</next>"
        question = state.task.facts["questions"][data["question"]]
        if self.memory_mode == "tools" and state.messages[-1]["role"] == "user":  # a new question: search first
            return self.parser.render([("search_memory", {"memory_type": "semantic", "query": question["text"]})])
        by_id = {f.id: f for f in stream.facts}
        latest = _latest(stream, [by_id[fid] for fid in question["fact_ids"]])
        held = all(fact_held(data["memory"], f) for f in latest)
        return self.parser.render(answer=question["answers"][0] if held else "unknown")

    def _hidden_args(self) -> dict[str, Any]:
        return {**super()._hidden_args(), "memory": self._state().data["memory"]}

    def default_process_rewards(self) -> list[Any]:
        return list(MEMORY_HOOKS)

    def default_reward_weights(self) -> dict[str, float]:
        return {"memory": 0.2, "memory/compression": 1.0}

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return (*super().stop_strings, "</memory>" if self.memory_mode == "overwrite" else "</next>")


class MemAgentEnv(MemoryQAEnv):
    """MemAgent's overwrite loop on multi-hop questions whose gold facts sit among distractors.

    Description:
        The question comes first; the stream (8K to 1M+ tokens of real text with generated
        distractor facts) is shown one chunk per context with the question and the memory; after
        each chunk the agent overwrites its memory (at most ``memory_chars`` characters; the first
        memory is "No previous memory"); the answer comes from the question and the memory alone.
        Each chunk is an independent conversation; the outcome covers all of them.
    Observation:
        Per context: the system prompt with the memory, then the question and "Chunk i of n";
        after the last chunk, the question alone.
    Action:
        ``<memory>...</memory>`` after each chunk (``memory="tools"`` gives the Mem-alpha tools
        instead); ``<answer>...</answer>`` at the end.
    Rewards:
        ``outcome``: exact match of the answer (1 or 0). The memory hooks as in MemoryQA-v0.
    Episode End:
        Terminated at the answer; truncated after ``max_turns`` or ``max_invalid_actions``.
    Arguments:
        stream_tokens (default 8000), chunk_tokens (default 1000), num_distractors, memory,
        memory_chars, split, haystack, needle_position; plus every ``AgentEnv`` argument.
    Example:
        >>> import turngym
        >>> env = turngym.make("turngym/MemAgent-v0", stream_tokens=2000, chunk_tokens=500, haystack="world")
        >>> obs, info = env.reset(seed=1)
        >>> obs[1]["content"].startswith("Question: ")
        True
    """

    def __init__(
        self,
        stream_tokens: int = 8_000,
        chunk_tokens: int = 1_000,
        num_distractors: int = 30,
        memory: MemoryMode = "overwrite",
        memory_chars: int = 1_024,
        split: str = "train",
        haystack: str = "wiki+world",
        **kwargs: Any,
    ):
        self._distractors = num_distractors
        kwargs.setdefault("question_first", True)
        super().__init__(
            stream_tokens,
            chunk_tokens,
            0,
            0,
            1,
            ("MH",),
            memory=memory,
            memory_chars=memory_chars,
            split=split,
            haystack=haystack,
            **kwargs,
        )

    def _settings(self, stream_tokens, chunk_tokens, num_facts, num_updates, num_questions, competencies, split, haystack):
        options = {
            "kind": "multihop",
            "stream_tokens": stream_tokens,
            "chunk_tokens": chunk_tokens,
            "num_distractors": self._distractors,
            "split": split,
            "haystack": haystack,
            "needle_position": self._needle_position,
        }
        return tuple(sorted(options.items()))


def _schema_line(schema: Mapping[str, Any]) -> str:
    import json

    return json.dumps(schema)


def _latest(stream: MemoryStream, facts: Sequence[Any]) -> list[Any]:
    """The newest version of each fact (an update that replaces it, if any)."""
    newest = {f.replaces: f for f in stream.facts if f.replaces}
    out = []
    for fact in facts:
        while fact.id in newest:
            fact = newest[fact.id]
        out.append(fact)
    return list({f.id: f for f in out}.values())


def _store_call(bank: MemoryBank, fact: Any, stream: MemoryStream) -> tuple[str, dict[str, Any]]:
    """Insert a new fact; replace the item holding the fact an update supersedes."""
    if fact.replaces:
        old = next(f for f in stream.facts if f.id == fact.replaces)
        stale = next((item for item in bank.semantic if fact_in_text(item.content, old)), None)
        if stale is not None:
            return "memory_update", {"memory_type": "semantic", "new_content": fact.sentence, "memory_id": stale.id}
    return "new_memory_insert", {"memory_type": "semantic", "content": fact.sentence}


def _overwrite_memory(memory: str, facts: Sequence[Any], stream: MemoryStream, limit: int) -> str:
    """The oracle's next overwrite memory: the kept lines, stale ones replaced by their updates."""
    lines = [line for line in memory.splitlines() if line.strip()]
    by_id = {f.id: f for f in stream.facts}
    for fact in facts:
        if fact.replaces:
            lines = [line for line in lines if not fact_in_text(line, by_id[fact.replaces])]
        lines.append(re.sub(r"^(Fact|Update) #\d+: ", "", fact.sentence))
    return "\n".join(lines)[:limit]
