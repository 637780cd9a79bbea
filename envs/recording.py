"""Episode recording: one JSONL line per episode, appended atomically, and replay that re-checks it.

A record holds what it takes to replay the episode exactly: the env ID and kwargs (hooks by import
path), the seed (or the RNG state when ``reset`` had no seed), every raw action, every reward
part, the stop reason, the whole conversation in chat format and wall-clock timings.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import importlib
import inspect
import json
import os
import secrets
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from turngym.envs.errors import RecordError, ResetNeeded
from turngym.envs.info import StepInfo
from turngym.envs.messages import Action, Message
from turngym.envs.wrappers import AgentWrapper

try:
    import fcntl
except ImportError:  # not POSIX: appends rely on O_APPEND alone
    fcntl = None

FORMAT = "turngym.episode/1"


class RecordEpisodes(AgentWrapper):
    """Appends one JSON line per finished episode to ``path``.

    An episode cut short by ``reset()`` or ``close()`` is written too, with ``"ended": false``.
    """

    def __init__(self, env: gym.Env, path: str | os.PathLike[str]):
        super().__init__(env)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._episode: dict[str, Any] | None = None
        self._clock = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[list[Message], StepInfo]:
        self._flush(ended=False)
        rng_state = None
        if seed is None:
            if self.env.unwrapped._np_random is None:
                seed = secrets.randbits(31)  # what Gymnasium would do, but known, so replayable
            else:
                rng_state = copy.deepcopy(self.env.unwrapped._np_random.bit_generator.state)
        self._clock = time.perf_counter()
        obs, info = self.env.reset(seed=seed, options=options)
        spec = self.env.spec
        self._episode = {
            "format": FORMAT,
            "env_id": spec.id if spec else None,
            "env_kwargs": to_jsonable(dict(spec.kwargs) if spec else {}),
            "seed": seed,
            "rng_state": rng_state,
            "options": to_jsonable(options),
            "task_id": info["task_id"],
            "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "steps": [],
        }
        return obs, info

    def step(self, action: Action) -> tuple[list[Message], float, bool, bool, StepInfo]:
        start = time.perf_counter()
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except ResetNeeded:
            raise
        except Exception as exc:  # a bug in the env: write what there is, marked as an error, then re-raise
            if self._episode is not None:
                self._episode["error"] = f"{type(exc).__name__}: {exc}"[:10_000]
                self._episode["failed_action"] = encode_action(action)
                self._flush(ended=False, stop_reason="error")
            raise
        if self._episode is not None:
            self._episode["steps"].append(
                {
                    "action": encode_action(action),
                    "reward": reward,
                    "reward_parts": dict(info["reward_parts"]),
                    "terminated": terminated,
                    "truncated": truncated,
                    "error": info["error"],
                    "stop_reason": info["stop_reason"],
                    "new_context": bool(info.get("new_context")),
                    "wall_s": round(time.perf_counter() - start, 6),
                    "metrics": dict(getattr(self.env.unwrapped, "step_metrics", {})),
                }
            )
            if terminated or truncated:
                self._flush(ended=True)
        return obs, reward, terminated, truncated, info

    def fork(self) -> RecordEpisodes:
        new = super().fork()
        new._episode = copy.deepcopy(self._episode)
        return new

    def close(self) -> None:
        self._flush(ended=False)
        super().close()

    def _flush(self, ended: bool, stop_reason: str | None = None) -> None:
        if self._episode is None:
            return
        episode, self._episode = self._episode, None
        if not episode["steps"] and not ended and "error" not in episode:
            return
        state = self.env.unwrapped.state
        steps = episode["steps"]
        episode.update(
            ended=ended,
            stop_reason=steps[-1]["stop_reason"] if ended else stop_reason,
            turns=len(steps),
            total_reward=sum(s["reward"] for s in steps),
            messages=state.messages if state is not None else [],
            context_starts=list(state.context_starts) if state is not None else [0],
            wall_s=round(time.perf_counter() - self._clock, 6),
        )
        append_jsonl(self.path, episode)


def append_jsonl(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append one line with a single ``write`` on an ``O_APPEND`` descriptor.

    A process killed mid-write can leave at most a torn last line; the next append starts on a
    fresh line so the torn one never swallows a good record, and the reader skips it.
    """
    line = (json.dumps(record, ensure_ascii=True, default=_json_default) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # Writers that hold the lock never interleave, even when a write comes back short
        # (a signal, a full disk) and the rest follows in a second write; the check for a torn
        # last line and the append are one step.
        if fcntl is not None:
            with contextlib.suppress(OSError):  # a file system without flock: O_APPEND alone
                fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)  # releases the lock


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays as numbers and lists; anything else by repr."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    return repr(value)


def read_episodes(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield the episode records of a JSONL file; a torn or foreign line is skipped with a warning."""
    return read_jsonl(path, FORMAT)


def read_jsonl(path: str | os.PathLike[str], fmt: str) -> Iterator[dict[str, Any]]:
    """Yield the records of a JSONL file whose ``"format"`` is ``fmt`` (lines written by ``append_jsonl``);
    a torn line (a writer killed mid-write) or a foreign one is skipped with a warning."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                warnings.warn(f"{path}:{lineno}: skipped a torn or malformed line ({len(raw)} bytes)", stacklevel=3)
                continue
            if not isinstance(record, dict) or record.get("format") != fmt:
                warnings.warn(f"{path}:{lineno}: skipped a line that is not a {fmt} record", stacklevel=3)
                continue
            yield record


# ---- JSON encoding of kwargs and actions ----------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Kwargs to JSON: hooks and callables by import path (replayable), the rest by value or repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, type) or inspect.isfunction(value) or inspect.isbuiltin(value):
        ref = _import_path(value)
        if ref:
            return {"__callable__": ref}
    elif dataclasses.is_dataclass(value) and (ref := _import_path(type(value))):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        return {"__object__": ref, "fields": to_jsonable(fields)}
    return {"__repr__": repr(value)}


def from_jsonable(value: Any) -> Any:
    """The inverse of ``to_jsonable``; a value recorded only by repr raises ``RecordError``."""
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    if isinstance(value, dict):
        if "__object__" in value:
            return _load(value["__object__"])(**from_jsonable(value["fields"]))
        if "__callable__" in value:
            return _load(value["__callable__"])
        if "__repr__" in value:
            raise RecordError(f"cannot rebuild {value['__repr__']} from a record: pass a dataclass or a module-level function")
        return {k: from_jsonable(v) for k, v in value.items()}
    return value


def _import_path(target: Any) -> str | None:
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if not module or "<" in qualname or module == "__main__":
        return None
    return f"{module}:{qualname}"


def _load(ref: str) -> Any:
    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def encode_action(action: Any) -> dict[str, Any]:
    """An action as JSON that ``decode_action`` turns back into an equal action of the same types.

    Text as ``text``; a message dict of plain JSON as ``message``; other Python values (None,
    numbers, bytes, tuples, dicts with non-string keys...) tagged as ``value``; anything else
    (an object of some class) by ``repr`` as ``python``, replayed as an unknown object.
    """
    if isinstance(action, str):
        return {"text": str(action)}
    if isinstance(action, dict) and _plain_json(action):
        return {"message": action}
    try:
        return {"value": _tag(action)}
    except (TypeError, RecursionError):
        return {"python": _safe_repr(action)[:100_000]}


def decode_action(encoded: dict[str, Any]) -> Action:
    if "text" in encoded:
        return encoded["text"]
    if "message" in encoded:
        return encoded["message"]
    if "value" in encoded:
        return _untag(encoded["value"])
    try:
        return ast.literal_eval(encoded["python"])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _Unreplayable(encoded["python"])


_MAX_DEPTH = 64


def _plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` comes back from ``json.loads(json.dumps(value))`` as the same action.

    Subclasses count as their base type (``check_action`` treats them alike); tuples, bytes and
    non-string keys do not survive JSON.
    """
    if depth > _MAX_DEPTH:
        return False
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_plain_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v, depth + 1) for k, v in value.items())
    return False


def _tag(value: Any, depth: int = 0) -> Any:
    """Python literals to JSON without loss: every JSON object in the result is a tag."""
    if depth > _MAX_DEPTH:
        raise RecursionError("the action is nested too deeply to record")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_tag(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [_tag(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[_tag(k, depth + 1), _tag(v, depth + 1)] for k, v in value.items()]}
    if isinstance(value, bytes):
        return {"bytes": bytes(value).decode("latin-1")}
    raise TypeError(f"cannot record a {type(value).__name__} by value")


def _untag(value: Any) -> Any:
    if isinstance(value, list):
        return [_untag(v) for v in value]
    if isinstance(value, dict):
        if "tuple" in value:
            return tuple(_untag(v) for v in value["tuple"])
        if "dict" in value:
            return {_untag(k): _untag(v) for k, v in value["dict"]}
        if "bytes" in value:
            return value["bytes"].encode("latin-1")
        raise RecordError(f"unknown tag in a recorded action: {sorted(value)}")
    return value


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:
        return f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"


@dataclass(frozen=True)
class _Unreplayable:
    """Stands in for a recorded action that was not a Python literal (an object of some class)."""

    repr: str


# ---- replay ----------------------------------------------------------------------------------


@dataclass
class ReplayReport:
    """What replaying one record found; ``ok`` when every reward and stop matched."""

    env_id: str
    task_id: str
    steps: int
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def replay(record: dict[str, Any], tolerance: float = 1e-9) -> ReplayReport:
    """Rebuild the env, re-step the recorded actions, and compare rewards, parts and stops."""
    from turngym.envs.registration import make

    if not record.get("env_id"):
        raise RecordError("the record has no env_id: it was made from an env without a registered spec")
    env = make(record["env_id"], **from_jsonable(record.get("env_kwargs", {})))
    report = ReplayReport(record["env_id"], record.get("task_id", ""), len(record["steps"]))
    try:
        if record.get("rng_state") is not None:
            generator = np.random.Generator(getattr(np.random, record["rng_state"]["bit_generator"])())
            generator.bit_generator.state = record["rng_state"]
            env.unwrapped._np_random = generator
        _, info = env.reset(seed=record.get("seed"), options=from_jsonable(record.get("options")))
        if info["task_id"] != record.get("task_id"):
            report.mismatches.append(f"reset: task {info['task_id']!r} != recorded {record.get('task_id')!r}")
            return report
        for n, step in enumerate(record["steps"], 1):
            try:
                _, reward, terminated, truncated, info = env.step(decode_action(step["action"]))
            except ResetNeeded:
                report.mismatches.append(f"step {n}: the replayed episode had already ended; {len(record['steps'])} recorded")
                break
            if abs(reward - step["reward"]) > tolerance:
                report.mismatches.append(f"step {n}: reward {reward!r} != recorded {step['reward']!r}")
            parts = info["reward_parts"]
            if parts.keys() != step["reward_parts"].keys() or any(
                abs(parts[k] - step["reward_parts"][k]) > tolerance for k in parts
            ):
                report.mismatches.append(f"step {n}: reward parts {parts} != recorded {step['reward_parts']}")
            if (terminated, truncated, info["stop_reason"]) != (step["terminated"], step["truncated"], step["stop_reason"]):
                report.mismatches.append(
                    f"step {n}: (terminated, truncated, stop) {(terminated, truncated, info['stop_reason'])} != recorded "
                    f"{(step['terminated'], step['truncated'], step['stop_reason'])}"
                )
        else:
            if "failed_action" in record:  # the env raised on this action when recorded: it must raise again
                n = len(record["steps"]) + 1
                try:
                    env.step(decode_action(record["failed_action"]))
                except Exception as exc:
                    if not record.get("error", "").startswith(type(exc).__name__):
                        report.mismatches.append(f"step {n}: raised {type(exc).__name__}; recorded {record.get('error')!r}")
                else:
                    report.mismatches.append(f"step {n}: did not raise; recorded {record.get('error')!r}")
    finally:
        env.close()
    return report
