"""``QAEnv``: what every search env shares: questions as tasks, the scored answer, the default
search hooks, and the bookkeeping of what each step's tool showed (for those hooks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from turngym.envs.core import AgentEnv, Reply, Task
from turngym.envs.parsers import ParsedAction
from turngym.envs.search.hooks import GoldEvidenceHit, QueryPenalty
from turngym.envs.search.metrics import METRICS, score_answer


class QAEnv(AgentEnv):
    """A question per episode (objects with ``id``, ``question``, ``answers``, ``gold_doc_ids`` per
    hop, optional ``hops`` and ``kind``), answered with ``<answer>`` and scored by ``answer_metric``.

    Subclasses call ``self.note_retrieved(doc_ids)`` when their tool shows documents, and name the
    tool whose argument is the episode's "query" (``query_tool``, ``query_arg``); ``state.data``
    then holds ``retrieved`` (doc ids per call) and ``queries``, and each step's ``extras`` what
    the search hooks read.
    """

    default_parser = "tags"
    query_tool: ClassVar[str] = "search"
    query_arg: ClassVar[str] = "query"

    def __init__(self, questions: Sequence[Any], *, answer_metric: str = "em", **kwargs: Any):
        if answer_metric not in METRICS:
            raise ValueError(f"answer_metric must be one of {sorted(METRICS)}, got {answer_metric!r}")
        if not questions:
            raise ValueError("expected at least one question, got none")
        self.questions = list(questions)
        self.answer_metric = answer_metric
        super().__init__(**kwargs)

    def default_process_rewards(self) -> list[Any]:
        return [GoldEvidenceHit(), QueryPenalty()]

    def default_reward_weights(self) -> dict[str, float]:
        return {"gold_hit": 0.1, "query_penalty": 0.1}

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        index = options.get("question_index")
        if index is None:
            index = int(self.np_random.integers(len(self.questions)))
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.questions):
            raise ValueError(f"options['question_index'] must be an int in [0, {len(self.questions)}), got {index!r}")
        q = self.questions[index]
        facts = {
            "answers": list(q.answers),
            "gold_doc_ids": [list(hop) for hop in getattr(q, "gold_doc_ids", ())],
            "hops": getattr(q, "hops", None),
            "kind": getattr(q, "kind", None),
            **self._task_facts(q),
        }
        return Task(id=str(q.id), prompt=f"Question: {q.question}", answer=q.answers[0] if q.answers else None, facts=facts)

    def _task_facts(self, question: Any) -> dict[str, Any]:
        """Extra facts of a subclass for ``question`` (added to the task's facts)."""
        return {}

    def _score_answer(self, answer: str) -> float:
        return float(score_answer(answer, self._state().task.facts["answers"], self.answer_metric))

    def note_retrieved(self, doc_ids: list[str]) -> None:
        """Record the documents one tool call showed (called by the tool during a step)."""
        self.last_step.scratch.setdefault("retrieved", []).append(doc_ids)

    def _respond(self, parsed: ParsedAction) -> Reply:
        state = self._state()
        before = [doc for call in state.data.get("retrieved", []) for doc in call]
        previous = list(state.data.get("queries", []))
        reply = super()._respond(parsed)
        queries = [c.arguments.get(self.query_arg) for c in parsed.tool_calls if c.name == self.query_tool]
        retrieved = self.last_step.scratch.get("retrieved", [])
        state.data.setdefault("retrieved", []).extend(retrieved)
        state.data.setdefault("queries", []).extend(q for q in queries if isinstance(q, str))
        reply.extras = {
            "retrieved": retrieved,
            "previously_retrieved": before,
            "queries": queries,
            "previous_queries": previous,
            "query_tool": self.query_tool,
        }
        return reply
