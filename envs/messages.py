"""Chat messages (OpenAI format) and the first check of every action: type, size, valid unicode."""

from __future__ import annotations

import contextlib
import copy
import json
import math
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]
Action = str | Message
ROLES = ("system", "user", "assistant", "tool")
MAX_NESTING = 16
MAX_INT_BITS = 1024  # larger ints cannot be written as JSON numbers that other readers understand


def system_message(content: str) -> Message:
    return {"role": "system", "content": content}


def user_message(content: str) -> Message:
    return {"role": "user", "content": content}


def assistant_message(content: str) -> Message:
    return {"role": "assistant", "content": content}


def tool_message(call_id: str, name: str, content: str) -> Message:
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}


def copy_messages(messages: list[Message]) -> list[Message]:
    """Fresh copies, so that a caller who edits an observation never edits the env's history.

    Values are strings except ``tool_calls``, so only that is copied deeply.
    """
    return [{**m, "tool_calls": copy.deepcopy(m["tool_calls"])} if "tool_calls" in m else m.copy() for m in messages]


def sanitize_text(text: str, limit: int) -> str:
    """Replace invalid unicode (lone surrogates) with U+FFFD and cut text longer than ``limit`` characters.

    A surrogate pair spelled as two code points becomes the character it encodes.
    """
    clean = text if text.isascii() or _valid_unicode(text) else text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if len(clean) > limit:
        clean = clean[:limit] + f"... [{len(clean) - limit} characters cut]"
    return clean


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(slots=True)
class CheckedAction:
    """An action after the type/size/unicode check: the message kept in history, and any error."""

    message: Message
    error: str | None
    text: str | None = None


def check_action(action: Any, max_chars: int) -> CheckedAction:
    """Check what any action must satisfy before a parser sees it; never raises."""
    if isinstance(action, str):
        problem = _text_problem(action, max_chars, "the action")
        if problem is None:
            return CheckedAction({"role": "assistant", "content": action}, None, action)
        return CheckedAction({"role": "assistant", "content": sanitize_text(action, max_chars)}, problem)
    if isinstance(action, dict):
        problem = _message_problem(action, max_chars)
        if problem:
            return CheckedAction({"role": "assistant", "content": sanitize_text(_safe_repr(action), max_chars)}, problem)
        message = {"role": "assistant", "content": action.get("content")}
        if "tool_calls" in action:
            message["tool_calls"] = copy.deepcopy(action["tool_calls"])
        return CheckedAction(message, None)
    got = type(action).__name__
    return CheckedAction(
        {"role": "assistant", "content": sanitize_text(_safe_repr(action), max_chars)},
        f"expected the assistant's text (str) or an assistant message dict, got {got}",
    )


def _text_problem(text: str, max_chars: int, what: str) -> str | None:
    if len(text) > max_chars:
        return f"{what} is {len(text):,} characters long; the limit is {max_chars:,}"
    if not text.isascii() and not _valid_unicode(text):
        bad = next(i for i, ch in enumerate(text) if not _valid_unicode(ch))
        return f"{what} is not valid unicode (U+{ord(text[bad]):04X} at position {bad}); send UTF-8 text"
    return None


def _message_problem(message: dict, max_chars: int) -> str | None:
    role = message.get("role", "assistant")
    if role != "assistant":
        return f"expected an assistant message (role 'assistant'), got role {_safe_repr(role)[:40]}"
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        return f"expected 'content' to be a string or null, got {type(content).__name__}"
    unknown = set(message) - {"role", "content", "tool_calls", "name", "reasoning_content"}
    if unknown:
        return f"unexpected keys in the assistant message: {sorted(map(str, unknown))[:5]}"
    # Every value counts at least one character (a container, one per item, before its items are
    # visited), so that the walk is bounded by ``max_chars`` even for a list shared a million
    # times; ``depth`` bounds cycles.
    total = 0
    too_long = f"the assistant message is over {max_chars:,} characters long"
    stack: list[tuple[Any, int]] = [(v, 1) for k, v in message.items() if k != "role"]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            return f"the assistant message is nested deeper than {MAX_NESTING} levels"
        if isinstance(value, str):
            problem = _text_problem(value, max_chars, "a string in the assistant message")
            if problem:
                return problem
        total += len(value) if isinstance(value, (str, list, dict)) else 1
        if total > max_chars:
            return too_long
        if isinstance(value, str):
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    return f"the assistant message has a {type(k).__name__} key {_safe_repr(k)[:40]}; JSON keys are strings"
                stack.extend([(k, depth + 1), (v, depth + 1)])
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                return f"the assistant message holds the number {value!r}; JSON numbers are finite"
        elif isinstance(value, int):  # bool included
            if value.bit_length() > MAX_INT_BITS:
                return f"the assistant message holds an integer of {value.bit_length()} bits; the limit is {MAX_INT_BITS}"
        elif value is not None:
            return f"the assistant message holds a {type(value).__name__}; expected JSON values only"
    return None


class _Full(Exception):
    pass


def _safe_repr(value: Any, limit: int = 100_000) -> str:
    """JSON-like text of any value, cut after about ``limit`` characters; the work is bounded by
    ``limit`` too (a structure that shares one list a million times is not walked), and cycles,
    deep nesting and a ``__repr__`` that raises are written as ``...`` or ``<type>``."""
    parts: list[str] = []
    size = 0

    def emit(text: str) -> None:
        nonlocal size
        parts.append(text[: limit - size])
        size += len(parts[-1])
        if size >= limit:
            raise _Full

    def walk(v: Any, depth: int) -> None:
        if depth > MAX_NESTING:
            emit("...")
        elif isinstance(v, dict):
            emit("{")
            for i, (k, item) in enumerate(v.items()):
                emit(", " if i else "")
                walk(k if isinstance(k, str) else _scalar_repr(k), depth + 1)
                emit(": ")
                walk(item, depth + 1)
            emit("}")
        elif isinstance(v, (list, tuple)):
            emit("[")
            for i, item in enumerate(v):
                emit(", " if i else "")
                walk(item, depth + 1)
            emit("]")
        elif isinstance(v, str):
            emit(json.dumps(v[: limit - size + 1], ensure_ascii=False))
        else:
            emit(_scalar_repr(v))

    with contextlib.suppress(_Full):
        walk(value, 0)
    return "".join(parts)


def _scalar_repr(value: Any) -> str:
    if value is None or isinstance(value, (bool, int, float)):
        try:
            return json.dumps(value)
        except ValueError:  # an int too long for str()
            return f"<{type(value).__name__}>"
    try:
        return json.dumps(repr(value)[:1000], ensure_ascii=False)
    except Exception:
        return f"<{type(value).__name__}>"
