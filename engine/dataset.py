"""Episodes as a Hugging Face ``datasets.Dataset`` (one row per episode) and back.

Columns: ``messages`` (one JSON string per chat message, so tool calls and any content
round-trip), the trajectory's ``token_ids``, ``mask``, ``logprobs`` and ``turn_starts``,
``turn_token_spans`` (``[start, end)`` pairs), per-turn ``rewards``, ``reward_parts`` and
``step_metrics`` (each turn a list of ``{"name", "value"}`` pairs), ``finish_reasons`` and
``actions``, and ``outcome``, ``total_reward`` (derived, for filtering), ``stop_reason``,
``error``, ``task_id``, ``seed``. Episodes played by a policy that sees no tokens (the oracle,
scripted, recorded JSONL) have empty token columns. ``datasets`` is imported only when used.

>>> import turngym
>>> from turngym.agents import OraclePolicy
>>> from turngym.engine import Engine
>>> with turngym.make_vec("turngym/Echo-v0", 2) as vec:
...     episodes = Engine(vec, OraclePolicy()).play([0, 1])
>>> ds = episodes_to_dataset(episodes)
>>> ds.num_rows, ds[0]["stop_reason"], ds[0]["outcome"]
(2, 'answered', 1.0)
>>> dataset_to_episodes(ds) == episodes
True
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from turngym.agents.trajectory import TokenTrajectory
from turngym.engine.episode import EpisodeTokens
from turngym.envs.info import StopReason
from turngym.envs.messages import Message
from turngym.envs.recording import read_episodes

if TYPE_CHECKING:
    import datasets


def episode_features() -> datasets.Features:
    """The dataset's schema (fixed, so empty lists and missing values keep their types)."""
    from datasets import Features, Sequence, Value

    pairs = [[{"name": Value("string"), "value": Value("float64")}]]
    context = {
        "messages": Sequence(Value("string")),
        "token_ids": Sequence(Value("int64")),
        "mask": Sequence(Value("int8")),
        "logprobs": Sequence(Value("float64")),
        "turn_starts": Sequence(Value("int64")),
    }
    return Features(
        {
            "contexts": [context],  # the episode's earlier contexts, where its env reset the context
            "turn_contexts": Sequence(Value("int64")),
            "messages": Sequence(Value("string")),
            "token_ids": Sequence(Value("int64")),
            "mask": Sequence(Value("int8")),
            "logprobs": Sequence(Value("float64")),
            "turn_starts": Sequence(Value("int64")),
            "turn_token_spans": Sequence(Sequence(Value("int64"), length=2)),
            "rewards": Sequence(Value("float64")),
            "reward_parts": pairs,
            "step_metrics": pairs,
            "finish_reasons": Sequence(Value("string")),
            "actions": Sequence(Value("string")),
            "outcome": Value("float64"),
            "total_reward": Value("float64"),
            "stop_reason": Value("string"),
            "error": Value("string"),
            "task_id": Value("string"),
            "seed": Value("int64"),
        }
    )


def episodes_to_dataset(episodes: Sequence[EpisodeTokens]) -> datasets.Dataset:
    """One row per episode; ``dataset_to_episodes`` turns the rows back into equal episodes."""
    from datasets import Dataset

    return Dataset.from_list([_row(e, i) for i, e in enumerate(episodes)], features=episode_features())


def dataset_to_episodes(ds: datasets.Dataset) -> list[EpisodeTokens]:
    """The episodes of a dataset made by ``episodes_to_dataset`` (or loaded from its ``save_to_disk``)."""
    from datasets import Dataset

    if not isinstance(ds, Dataset):
        raise TypeError(f"expected a datasets.Dataset of episodes, got {type(ds).__name__}")
    missing = sorted(set(episode_features()) - set(ds.column_names))
    if missing:
        raise ValueError(f"expected a dataset of turngym episodes, got one without the columns {missing}")
    return [_episode(row) for row in ds]


def load_episodes(path: str | os.PathLike[str]) -> list[EpisodeTokens]:
    """The episodes of a directory written by ``episodes_to_dataset(...).save_to_disk(path)``."""
    import datasets

    ds = datasets.load_from_disk(os.fspath(path))
    if not isinstance(ds, datasets.Dataset):
        raise ValueError(f"expected one Dataset of episodes in {path}, got a {type(ds).__name__}")
    return dataset_to_episodes(ds)


def episode_from_record(record: Mapping[str, Any]) -> EpisodeTokens:
    """A recorded episode (``RecordEpisodes`` JSONL) without tokens: messages, per-turn rewards and parts, stop reason.

    ``error`` is set, as by the engine, only for an episode that ended with ``stop_reason="error"``.
    """
    steps = record.get("steps") or []
    parts = [dict(s["reward_parts"]) for s in steps]
    seed = record.get("seed")
    stop_reason = str(record.get("stop_reason") or "")
    error = record.get("error") or (steps[-1].get("error") if steps and stop_reason == StopReason.ERROR else None)
    messages = list(record.get("messages") or [])
    bounds = [*(record.get("context_starts") or [0]), len(messages)]
    contexts = [TokenTrajectory(messages=messages[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    turn_contexts, current = [], 0
    for s in steps:
        turn_contexts.append(current)
        current += bool(s.get("new_context"))
    return EpisodeTokens(
        contexts[-1],
        contexts=contexts[:-1],
        turn_contexts=turn_contexts,
        rewards=[float(s["reward"]) for s in steps],
        outcome=float(parts[-1].get("outcome", 0.0)) if parts else 0.0,
        stop_reason=stop_reason,
        task_id=str(record.get("task_id", "")),
        turn_token_spans=[],
        seed=None if seed is None else int(seed),
        reward_parts=parts,
        actions=[_action_text(s["action"]) for s in steps],
        step_metrics=[dict(s.get("metrics") or {}) for s in steps],
        error=error,
    )


def recording_to_dataset(path: str | os.PathLike[str]) -> datasets.Dataset:
    """The episodes of a recorded JSONL file in the same format (no tokens)."""
    return episodes_to_dataset([episode_from_record(r) for r in read_episodes(path)])


def _row(e: EpisodeTokens, index: int) -> dict[str, Any]:
    if not isinstance(e, EpisodeTokens):
        raise TypeError(f"expected EpisodeTokens at index {index}, got {type(e).__name__}")
    return {
        "contexts": [_context(c, index) for c in e.contexts],
        "turn_contexts": e.turn_contexts,
        **_context(e.trajectory, index),
        "turn_token_spans": [list(span) for span in e.turn_token_spans],
        "rewards": e.rewards,
        "reward_parts": [_pairs(p) for p in e.reward_parts],
        "step_metrics": [_pairs(m) for m in e.step_metrics],
        "finish_reasons": e.finish_reasons,
        "actions": e.actions,
        "outcome": e.outcome,
        "total_reward": e.total_reward,
        "stop_reason": e.stop_reason,
        "error": e.error,
        "task_id": e.task_id,
        "seed": e.seed,
    }


def _episode(row: Mapping[str, Any]) -> EpisodeTokens:
    return EpisodeTokens(
        _trajectory(row),
        rewards=row["rewards"],
        outcome=row["outcome"],
        stop_reason=row["stop_reason"],
        task_id=row["task_id"],
        turn_token_spans=[(start, end) for start, end in row["turn_token_spans"]],
        seed=row["seed"],
        reward_parts=[_unpairs(p) for p in row["reward_parts"]],
        finish_reasons=row["finish_reasons"],
        actions=row["actions"],
        step_metrics=[_unpairs(m) for m in row["step_metrics"]],
        error=row["error"],
        contexts=[_trajectory(c) for c in row["contexts"]],
        turn_contexts=list(row["turn_contexts"]),
    )


def _context(traj: TokenTrajectory, index: int) -> dict[str, Any]:
    return {
        "messages": [_dump(m, index) for m in traj.messages],
        "token_ids": traj.token_ids,
        "mask": traj.mask,
        "logprobs": traj.logprobs,
        "turn_starts": traj.turn_starts,
    }


def _trajectory(row: Mapping[str, Any]) -> TokenTrajectory:
    return TokenTrajectory(
        list(row["token_ids"]),
        list(row["mask"]),
        list(row["logprobs"]),
        [json.loads(m) for m in row["messages"]],
        list(row["turn_starts"]),
    )


def _dump(message: Message, index: int) -> str:
    """A message as JSON: readable unicode, or escaped where it holds lone surrogates (not UTF-8)."""
    try:
        text = json.dumps(message, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected JSON messages in episode {index}, got {message!r:.200}: {exc}") from exc
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(message)
    return text


def _pairs(values: Mapping[str, float]) -> list[dict[str, Any]]:
    return [{"name": str(k), "value": float(v)} for k, v in values.items()]


def _unpairs(pairs: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    return {p["name"]: p["value"] for p in pairs}


def _action_text(encoded: Mapping[str, Any]) -> str:
    """A recorded action's text: the text, a message's content, else the JSON of what was recorded."""
    if "text" in encoded:
        return encoded["text"]
    if "message" in encoded:
        return encoded["message"].get("content") or ""
    return json.dumps(encoded)
