"""Action parsers: assistant text or message -> tool calls and answer, and back (``render``).

Three formats, chosen per env: ``hermes`` (Hermes/Qwen ``<tool_call>{json}</tool_call>``),
``openai`` (the message's ``tool_calls`` field) and ``tags`` (``<search>q</search>``). Every parser
reads an OpenAI ``tool_calls`` field when a dict action carries one, and ``<answer>...</answer>``.
Each parser states the strings that end a text action in its format (``stop_strings``), the one
place a sampling policy learns where to stop.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from turngym.envs.messages import Action, Message
from turngym.tools.core import Tool


@dataclass(frozen=True)
class ToolCall:
    """A parsed call: tool name, arguments (JSON object) and a call id."""

    name: str
    arguments: dict[str, Any]
    id: str


@dataclass(slots=True)
class ParsedAction:
    """What a parser found. ``error`` says what was wrong and what was expected."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    answer: str | None = None
    error: str | None = None


@dataclass
class ActionParser:
    """Base parser: OpenAI ``tool_calls`` on dict actions, ``<answer>`` tags, rendering back."""

    answer_tag: str = "answer"
    name: str = field(default="base", init=False)

    def parse(self, action: Action, *, turn: int = 0) -> ParsedAction:
        """Parse an action that passed ``check_action`` (str, or an assistant dict)."""
        if isinstance(action, dict):
            content = action.get("content") or ""
            if action.get("tool_calls"):
                calls, error = parse_openai_tool_calls(action["tool_calls"], turn)
                if error:
                    return ParsedAction(text=content, error=error)
                answer, error = self._answer(content)
                return self._finish(ParsedAction(text=content, tool_calls=calls, answer=answer, error=error))
            action = content
        return self._finish(self.parse_text(action, turn=turn))

    def parse_text(self, text: str, *, turn: int) -> ParsedAction:
        answer, error = self._answer(text)
        return ParsedAction(text=text, answer=answer, error=error)

    def render(self, calls: list[tuple[str, dict[str, Any]]] = (), answer: str | None = None, text: str = "") -> Action:
        """The action this parser reads as ``calls`` (name, arguments) or ``answer``."""
        parts = [text] if text else []
        if answer is not None:
            parts.append(f"<{self.answer_tag}>{answer}</{self.answer_tag}>")
        return "\n".join(parts)

    def format_help(self) -> str:
        return f"Give the final answer as <{self.answer_tag}>...</{self.answer_tag}>."

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """The strings that end a text action in this format. A policy that stops generating at the
        first one it writes (and keeps it) writes one tool call or one answer per action."""
        return (f"</{self.answer_tag}>",)

    def _answer(self, text: str) -> tuple[str | None, str | None]:
        tag = self.answer_tag
        if f"<{tag}>" not in text:
            return None, None
        found = _tag_pattern(tag).findall(text)
        if len(found) > 1:
            return None, f"found {len(found)} <{tag}> blocks; give exactly one final answer"
        if text.count(f"<{tag}>") != len(found):
            return None, f"<{tag}> is not closed; write <{tag}>...</{tag}>"
        return (found[0].strip(), None) if found else (None, None)

    def _finish(self, parsed: ParsedAction) -> ParsedAction:
        if parsed.error is None and parsed.answer is not None and parsed.tool_calls:
            return ParsedAction(text=parsed.text, error="send either tool calls or a final answer in one turn, not both")
        return parsed


def parse_openai_tool_calls(raw: Any, turn: int) -> tuple[tuple[ToolCall, ...], str | None]:
    """Parse OpenAI ``tool_calls``: ``[{"id", "type": "function", "function": {"name", "arguments"}}]``."""
    expected = 'expected tool_calls as [{"id": ..., "type": "function", "function": {"name": ..., "arguments": "{json}"}}]'
    if not isinstance(raw, list):
        return (), f"{expected}, got {type(raw).__name__}"
    calls = []
    for i, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return (), f"{expected}; call {i} has no function name"
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            arguments, problem = _loads(arguments) if arguments.strip() else ({}, None)
            if problem:
                return (), f"call {i} ({function['name']}): arguments are not valid JSON ({problem}); expected a JSON object"
        if not isinstance(arguments, dict):
            return (), f"call {i} ({function['name']}): arguments must be a JSON object, got {type(arguments).__name__}"
        call_id = item.get("id") if isinstance(item.get("id"), str) else f"call_{turn}_{i}"
        calls.append(ToolCall(function["name"], arguments, call_id))
    return tuple(calls), None


@functools.lru_cache(maxsize=64)
def _tag_pattern(tag: str) -> re.Pattern[str]:
    return re.compile(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", re.DOTALL)


def _openai_message(calls: list[tuple[str, dict[str, Any]]], content: str) -> Message:
    """An assistant message with OpenAI ``tool_calls`` (every parser reads these on dict actions)."""
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, (n, a) in enumerate(calls)
    ]
    return {"role": "assistant", "content": content or None, "tool_calls": tool_calls}


def _loads(text: str) -> tuple[Any, str | None]:
    """``json.loads`` that never raises: (value, None) or (None, what was wrong)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at char {exc.pos}"
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:  # e.g. an integer longer than Python's int-string conversion limit
        return None, str(exc).split(";")[0]


def _dumps(value: Any) -> str:
    """JSON with ``<`` escaped, so that no string inside can close or open a tag."""
    return json.dumps(value).replace("<", "\\u003c")


@dataclass
class HermesParser(ActionParser):
    """``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, as Hermes and Qwen models write."""

    name: str = field(default="hermes", init=False)

    def parse_text(self, text: str, *, turn: int) -> ParsedAction:
        answer, error = self._answer(text)
        if error:
            return ParsedAction(text=text, error=error)
        bodies = re.findall(r"<tool_call>(.*?)</tool_call>", text, flags=re.DOTALL)
        if text.count("<tool_call>") != len(bodies):
            return ParsedAction(text=text, error="a <tool_call> is not closed; write <tool_call>{json}</tool_call>")
        calls = []
        for i, body in enumerate(bodies):
            obj, problem = _loads(body)
            if problem:
                return ParsedAction(text=text, error=f"tool call {i} is not valid JSON ({problem}); {self._shape}")
            if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
                return ParsedAction(text=text, error=f'tool call {i} has no "name"; {self._shape}')
            arguments = obj.get("arguments", {})
            if isinstance(arguments, str):  # arguments given as a JSON string, as OpenAI does
                arguments, problem = _loads(arguments) if arguments.strip() else ({}, None)
                if problem:
                    return ParsedAction(
                        text=text,
                        error=f'tool call {i} ({obj["name"]}): "arguments" is a string that is not valid JSON ({problem}); '
                        f"{self._shape}",
                    )
            if not isinstance(arguments, dict):
                return ParsedAction(
                    text=text,
                    error=f'tool call {i} ({obj["name"]}): "arguments" must be a JSON object, got {type(arguments).__name__}',
                )
            calls.append(ToolCall(obj["name"], arguments, f"call_{turn}_{i}"))
        return ParsedAction(text=text, tool_calls=tuple(calls), answer=answer)

    _shape = 'expected <tool_call>{"name": "<tool>", "arguments": {...}}</tool_call>'

    def render(self, calls: list[tuple[str, dict[str, Any]]] = (), answer: str | None = None, text: str = "") -> Action:
        blocks = [f"<tool_call>{_dumps({'name': n, 'arguments': a})}</tool_call>" for n, a in calls]
        return "\n".join([*([text] if text else []), *blocks, *([super().render(answer=answer)] if answer is not None else [])])

    def format_help(self) -> str:
        return f'Call a tool with <tool_call>{{"name": "<tool>", "arguments": {{...}}}}</tool_call>. {super().format_help()}'

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """A closed tool call or the closed answer tag."""
        return ("</tool_call>", *super().stop_strings)


@dataclass
class OpenAIParser(ActionParser):
    """Tool calls only through the message's ``tool_calls`` field; text is read for ``<answer>``."""

    name: str = field(default="openai", init=False)

    def render(self, calls: list[tuple[str, dict[str, Any]]] = (), answer: str | None = None, text: str = "") -> Action:
        content = super().render(answer=answer, text=text)
        return _openai_message(calls, content) if calls else content

    def format_help(self) -> str:
        return f"Call tools through the tool_calls field of your message. {super().format_help()}"

    # stop_strings: the answer tag's only (the base's); tool calls travel in the tool_calls field, not in text


@dataclass
class TagParser(ActionParser):
    """One tag per tool: ``<search>query</search>`` for a tool whose one argument is a string, and
    ``<lookup>{"item": "x", "field": "price"}</lookup>`` (a JSON object) for any other tool.

    ``tags`` maps tag -> (tool name, argument name, or None for a JSON-object body); ``for_tools``
    builds it. A tool named like the answer tag gets no tag (``untagged``) and is called through the
    message's OpenAI ``tool_calls`` field, which every parser reads.
    """

    tags: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    untagged: tuple[str, ...] = ()
    name: str = field(default="tags", init=False)

    def __post_init__(self) -> None:
        names = "|".join(re.escape(t) for t in sorted(self.tags, key=len, reverse=True))
        self._pattern = re.compile(rf"<({names})>(.*?)</\1>", re.DOTALL) if self.tags else None
        self._by_tool = {tool_name: (tag, arg) for tag, (tool_name, arg) in self.tags.items()}

    @classmethod
    def for_tools(cls, tools: list[Tool], answer_tag: str = "answer") -> TagParser:
        tags, untagged = {}, []
        for t in tools:
            if t.name == answer_tag:
                untagged.append(t.name)
                continue
            props = t.parameters.get("properties", {})
            single_string = len(props) == 1 and next(iter(props.values())).get("type") == "string"
            tags[t.name] = (t.name, next(iter(props)) if single_string else None)
        return cls(answer_tag=answer_tag, tags=tags, untagged=tuple(untagged))

    def parse_text(self, text: str, *, turn: int) -> ParsedAction:
        answer, error = self._answer(text)
        if error:
            return ParsedAction(text=text, error=error)
        calls = []
        if self._pattern is not None:
            for match in self._pattern.finditer(text):
                tag, body = match.group(1), match.group(2)
                tool_name, arg = self.tags[tag]
                if arg is not None:
                    arguments = {arg: body.strip()}
                else:
                    arguments, problem = _loads(body) if body.strip() else ({}, None)
                    if problem or not isinstance(arguments, dict):
                        what = problem or f"got {type(arguments).__name__}"
                        return ParsedAction(
                            text=text, error=f"<{tag}> takes a JSON object of arguments ({what}); {self.format_help()}"
                        )
                calls.append(ToolCall(tool_name, arguments, f"call_{turn}_{len(calls)}"))
            opened = sum(text.count(f"<{t}>") for t in self.tags)
            if opened != len(calls):
                return ParsedAction(text=text, error=f"a tag is not closed; {self.format_help()}")
        return ParsedAction(text=text, tool_calls=tuple(calls), answer=answer)

    def render(self, calls: list[tuple[str, dict[str, Any]]] = (), answer: str | None = None, text: str = "") -> Action:
        """Tags where every call fits one (a string without ``<`` or surrounding spaces, as
        ``parse`` strips them, or a JSON object); else an OpenAI ``tool_calls`` message."""
        blocks = []
        for name, arguments in calls:
            tag, arg = self._by_tool.get(name, (None, None))
            if tag is None:
                return _openai_message(calls, super().render(answer=answer, text=text))
            if arg is None:
                blocks.append(f"<{tag}>{_dumps(arguments)}</{tag}>")
                continue
            value = arguments.get(arg) if set(arguments) == {arg} else None
            if not isinstance(value, str) or "<" in value or value != value.strip():
                return _openai_message(calls, super().render(answer=answer, text=text))
            blocks.append(f"<{tag}>{value}</{tag}>")
        return "\n".join([*([text] if text else []), *blocks, *([super().render(answer=answer)] if answer is not None else [])])

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Each tool's closing tag, and the answer tag's."""
        return tuple(dict.fromkeys([*(f"</{tag}>" for tag in self.tags), *super().stop_strings]))

    def format_help(self) -> str:
        uses = ", ".join(f"<{t}>{a}</{t}>" if a else f"<{t}>{{JSON arguments}}</{t}>" for t, (_, a) in self.tags.items())
        others = f"Call {', '.join(self.untagged)} through the tool_calls field of your message. " if self.untagged else ""
        return f"Use {uses}. {others}{super().format_help()}" if uses else f"{others}{super().format_help()}"


PARSERS = {"hermes": HermesParser, "openai": OpenAIParser, "tags": TagParser}


def make_parser(spec: str | ActionParser, tools: list[Tool], answer_tag: str = "answer") -> ActionParser:
    """A parser from a name (``hermes``, ``openai``, ``tags``) or a ready ``ActionParser``."""
    if isinstance(spec, ActionParser):
        return spec
    if spec == "tags":
        return TagParser.for_tools(tools, answer_tag=answer_tag)
    if spec not in PARSERS:
        raise ValueError(f"unknown parser {spec!r}; expected one of {sorted(PARSERS)} or an ActionParser")
    return PARSERS[spec](answer_tag=answer_tag)
