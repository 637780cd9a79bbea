"""``SearchEnv``: the base of the retrieval QA envs, and ``turngym/SearchQA-v0``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from turngym.envs.core import AgentEnv, Reply
from turngym.envs.messages import Action, check_action
from turngym.envs.parsers import ParsedAction
from turngym.envs.search import resources
from turngym.envs.search.qa_env import QAEnv
from turngym.tools.core import Hidden, tool
from turngym.tools.retrieval.base import Hit, Retriever
from turngym.tools.retrieval.corpus import Document


@tool
def search(query: str, searcher: Hidden[Callable[[str], str]]) -> str:
    """Search the corpus; returns the top passages, each with its title.

    Args:
        query: What to look for, in a few words.
    """
    return searcher(query)


def format_hits(hits: Sequence[Hit]) -> str:
    """Search-R1's passage layout: ``Doc 1(Title: ...) text`` one per line, inside <information>."""
    lines = [f"Doc {i}(Title: {h.document.title}) {h.document.text}" for i, h in enumerate(hits, 1)]
    return "<information>" + ("\n".join(lines) if lines else "No results.") + "</information>"


class SearchEnv(QAEnv):
    """Base of the retrieval envs: a question, a ``search`` tool over a ``Retriever``, a scored answer."""

    instructions = (
        "Answer the question. Think step by step. When you need facts, search the corpus; results come back "
        "between <information> and </information>. Search as often as you need, then give a short final answer."
    )

    def __init__(
        self,
        questions: Sequence[Any],
        retriever: Retriever,
        *,
        topk: int = 3,
        documents: Sequence[Document] = (),
        **kwargs: Any,
    ):
        if not isinstance(topk, int) or not 1 <= topk <= 50:
            raise ValueError(f"topk must be an int in 1..50, got {topk!r}")
        self.retriever = retriever
        self.topk = topk
        self.documents = documents  # for the oracle's titles when the retriever is remote
        self._titles = {d.id: d.title for d in documents}
        kwargs.setdefault("max_turns", 8)
        super().__init__(questions, builtin_tools=[search, *kwargs.pop("builtin_tools", [])], **kwargs)

    # ---- searching ----
    def _hidden_args(self) -> dict[str, Any]:
        return {**super()._hidden_args(), "searcher": self._search_text}

    def _search_text(self, query: str) -> str:
        query = query.strip()
        if not query:
            raise ValueError("the query is empty; write a few words to search for")
        metrics = self.last_step.metrics
        hits = self.last_step.prefetched.get("hits", {}).get(query)
        if hits is None:
            start = time.perf_counter()
            hits = self.retriever.search_batch([query], self.topk)[0]
            metrics["retrieval_s"] = metrics.get("retrieval_s", 0.0) + time.perf_counter() - start
        metrics["retrievals"] = metrics.get("retrievals", 0) + 1
        self.note_retrieved([h.doc_id for h in hits])
        return format_hits(hits)

    def _respond(self, parsed: ParsedAction) -> Reply:
        self.last_step.metrics.update(self.last_step.prefetched.get("metrics", {}))
        return super()._respond(parsed)

    @classmethod
    def prefetch_batch(cls, envs: Sequence[AgentEnv], actions: Sequence[Action]) -> None:
        """One ``search_batch`` per (retriever, topk) for every query of every env's action; each env's
        ``pending_prefetch`` becomes ``{"hits": {query: hits}, "metrics": {...}}`` for its next step."""
        groups: dict[tuple[int, int], tuple[Retriever, list[tuple[SearchEnv, str]]]] = {}
        for env, action in zip(envs, actions, strict=True):
            checked = check_action(action, env.max_action_chars)
            if checked.error or env.state is None:
                continue
            parsed = env.parser.parse(action if checked.text is None else checked.text, turn=env.state.turn + 1)
            for call in parsed.tool_calls:
                query = call.arguments.get("query") if call.name == "search" else None
                if isinstance(query, str) and query.strip():
                    key = (id(env.retriever), env.topk)
                    groups.setdefault(key, (env.retriever, []))[1].append((env, query.strip()))
        found: dict[int, tuple[SearchEnv, dict[str, list[Hit]], dict[str, float]]] = {}
        for (_, k), (retriever, requests) in groups.items():
            start = time.perf_counter()
            results = retriever.search_batch([q for _, q in requests], k)
            metrics = {"retrieval_s": time.perf_counter() - start, "retrieval_batch": len(requests)}
            for (env, query), hits in zip(requests, results, strict=True):
                found.setdefault(id(env), (env, {}, metrics))[1][query] = hits
        for env, hits, metrics in found.values():
            env.pending_prefetch = {"hits": hits, "metrics": metrics}

    # ---- the oracle ----
    def oracle_action(self) -> Action | None:
        """Search each hop's gold document by its title, then answer."""
        state = self._state()
        facts = state.task.facts
        seen = {doc for call in state.data.get("retrieved", []) for doc in call}
        searches = len(state.data.get("queries", []))
        for hop in facts["gold_doc_ids"]:
            if not seen.intersection(hop) and searches < 2 * len(facts["gold_doc_ids"]) + 1:
                return self.parser.render([("search", {"query": self.title_of(hop[0])})])
        return self.parser.render(answer=facts["answers"][0])

    def title_of(self, doc_id: str) -> str:
        doc = resources.document_by_id(self.retriever, doc_id)
        return doc.title if doc is not None else self._titles.get(doc_id, doc_id)


class SearchQAEnv(SearchEnv):
    """Search-R1 style retrieval QA over any corpus and QA set (the generated world by default).

    Description:
        A question; the agent searches a corpus (``<search>query</search>``, top-k passages back in
        ``<information>``) as often as it needs and answers (``<answer>...</answer>``). Works on
        any corpus + QA pair: a Search-R1 wiki-18 corpus with NQ/HotpotQA files, a built index, a
        running retrieval server (Search-R1's or ``turngym serve retriever``), or the generated
        world (default).

    Observation:
        Reset: a system prompt (the tools and the action format) and ``Question: ...``. Step: a
        tool message ``<information>Doc 1(Title: ...) ...</information>``, or what was wrong.

    Action:
        ``parser="tags"`` (default): ``<search>query</search>`` or ``<answer>text</answer>``;
        ``parser="hermes"`` / ``"openai"``: a ``search`` tool call.

    Rewards:
        ``outcome``: the answer metric against the gold answers (``em``, ``f1`` or ``cover_em``
        after SQuAD normalisation), at the end. ``gold_hit`` (weight 0.1): the step retrieved a gold
        document not seen before. ``query_penalty`` (weight 0.1): -1 for an empty or repeated query.

    Episode End:
        Terminated on an answer; truncated at ``max_turns`` (default 8), after
        ``max_invalid_actions`` malformed actions, or past ``token_budget``.

    Arguments:
        corpus: a JSONL corpus path, a list of ``Document`` or None (the generated world).
        qa: a Search-R1 QA file (JSONL/parquet), a list of ``QAExample`` or None.
        retriever: ``"bm25"`` (default: the best that fits a CPU's budget, docs/retrieval.md),
            ``"dense"``, ``"hybrid"`` (best recall, needs MiniLM per query), an index directory, a
            retrieval server URL (``http://...``), ``"ray-serve:NAME"`` (the service on Ray Serve)
            or a ``Retriever``.
        topk: passages per search (default 3). answer_metric: ``em``, ``f1`` or ``cover_em``.
        world_seed, num_entities, split: the generated world when ``corpus`` is None.
        Plus every ``AgentEnv`` argument.

    Example:
        >>> import gymnasium as gym, turngym
        >>> env = gym.make("turngym/SearchQA-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs[1]["content"].startswith("Question:")
        True
        >>> obs, reward, terminated, truncated, info = env.step(env.oracle_action())
        >>> obs[0]["content"].startswith("<information>Doc 1(Title:")
        True
    """

    def __init__(
        self,
        corpus: Any = None,
        qa: Any = None,
        retriever: Any = "bm25",
        *,
        world_seed: int = 0,
        num_entities: int = 200,
        split: str | None = "train",
        **kwargs: Any,
    ):
        docs, questions = resources.corpus_and_questions(
            corpus, qa, world_seed=world_seed, num_entities=num_entities, split=split
        )
        super().__init__(questions, resources.make_retriever(retriever, docs), documents=docs, **kwargs)
