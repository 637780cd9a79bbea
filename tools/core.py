"""The Tool type and the ``@tool`` decorator: an OpenAI function schema from type hints and docstring."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_type_hints

import pydantic

ErrorKind = Literal["unknown_tool", "arguments", "raised", "sandbox", "timeout"]
"""Where a tool call failed: no such tool, bad arguments, the tool raised, its sandbox failed, it timed out."""

ERROR_LABELS: dict[str, str] = {
    "unknown_tool": "unknown tool",
    "arguments": "tool arguments",
    "raised": "tool raised",
    "sandbox": "sandbox",
    "timeout": "timeout",
}


class _HiddenMarker:
    """Marks a parameter the env fills in and the model never sees."""


HIDDEN = _HiddenMarker()


class Hidden:
    """``table: Hidden[dict]`` declares a hidden argument injected by the env by name."""

    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[item, HIDDEN]


class ToolError(Exception):
    """Raised inside a tool to fail a call at a named boundary.

    ``kind`` is one of ``ErrorKind`` (``"sandbox"`` when the code's sandbox failed, ``"timeout"``
    when the call ran out of time, ``"raised"`` otherwise); ``fatal=True`` ends the episode
    (stop reason ``error``). Any other exception inside a tool is a ``"raised"`` failure.
    """

    def __init__(self, message: str, kind: ErrorKind = "raised", *, fatal: bool = False):
        if kind not in ERROR_LABELS:
            raise ValueError(f"ToolError kind must be one of {sorted(ERROR_LABELS)}, got {kind!r}")
        super().__init__(message)
        self.message, self.kind, self.fatal = message, kind, fatal


@dataclass(frozen=True)
class ToolResult:
    """What one tool call returned: the text the model sees and, on failure, the boundary."""

    ok: bool
    output: str
    error_kind: ErrorKind | None = None
    fatal: bool = False


class Tool:
    """A callable with an OpenAI function schema and strict argument validation."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None):
        self.fn = fn
        self.name = name or fn.__name__
        doc_description, arg_docs = parse_google_docstring(inspect.getdoc(fn) or "")
        self.description = description or doc_description or self.name
        hints = get_type_hints(fn, include_extras=True)
        # Fields get neutral names and the parameter name as alias, so that arguments called ``json``,
        # ``schema``, ``model_name`` or ``_x`` do not clash with pydantic's own names.
        fields: dict[str, Any] = {}
        self._field_names: dict[str, str] = {}  # field -> parameter
        self.hidden: tuple[str, ...] = ()
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"tool {self.name!r}: *args/**kwargs are not supported; got {param}")
            annotation = hints.get(param.name, Any)
            if HIDDEN in getattr(annotation, "__metadata__", ()):
                self.hidden += (param.name,)
                continue
            default = ... if param.default is param.empty else param.default
            field_name = f"arg{len(fields)}"
            self._field_names[field_name] = param.name
            fields[field_name] = (annotation, pydantic.Field(default, alias=param.name, description=arg_docs.get(param.name)))
        config = pydantic.ConfigDict(strict=True, extra="forbid")
        self.arguments_model = pydantic.create_model(f"{self.name}_arguments", __config__=config, **fields)
        self.parameters = _strip_titles(self.arguments_model.model_json_schema())

    @property
    def schema(self) -> dict[str, Any]:
        """The OpenAI ``{"type": "function", "function": {...}}`` schema (a fresh dict)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": json.loads(json.dumps(self.parameters)),
            },
        }

    def run(self, arguments: Mapping[str, Any], hidden: Mapping[str, Any] | None = None) -> ToolResult:
        """Validate ``arguments``, call the function, and turn every failure into a ``ToolResult``."""
        try:
            validated = self._validate(dict(arguments))
        except pydantic.ValidationError as exc:
            return ToolResult(False, f"invalid arguments for {self.name}: {_short_validation_error(exc)}", "arguments")
        kwargs = {param: getattr(validated, field) for field, param in self._field_names.items()}
        for name in self.hidden:
            if hidden is None or name not in hidden:
                raise KeyError(f"tool {self.name!r} needs hidden argument {name!r}; the env passed {sorted(hidden or {})}")
            kwargs[name] = hidden[name]
        try:
            result = self.fn(**kwargs)
            if inspect.isawaitable(result):
                result = _run_awaitable(result)
            output = result if isinstance(result, str) else json.dumps(result, default=str)
        except ToolError as exc:
            return ToolResult(False, exc.message, exc.kind, exc.fatal)
        except Exception as exc:  # a tool's failure is the model's observation, never a crash
            return ToolResult(False, f"{self.name} raised {type(exc).__name__}: {exc}", "raised")
        return ToolResult(True, output)

    def _validate(self, arguments: dict[str, Any]) -> pydantic.BaseModel:
        """Strict validation in JSON mode, as arguments are JSON: an array is a fine tuple and a
        string a fine enum member, but "3" is no integer. Python mode for what JSON cannot hold."""
        try:
            text = json.dumps(arguments)
        except (TypeError, ValueError):
            return self.arguments_model.model_validate(arguments)
        try:
            return self.arguments_model.model_validate_json(text)
        except pydantic.ValidationError as exc:
            if any(err["type"] == "json_invalid" for err in exc.errors()):  # lone surrogates, say
                return self.arguments_model.model_validate(arguments)
            raise

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by reference when the tool is a module attribute (``@tool`` at module level),
        else by its function, so tools travel to process workers."""
        module = sys.modules.get(self.fn.__module__)
        if module is not None and _resolve(module, self.fn.__qualname__) is self:
            return (_tool_by_reference, (self.fn.__module__, self.fn.__qualname__))
        return (_rebuild_tool, (self.fn, self.name, self.description))

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def _resolve(obj: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _tool_by_reference(module: str, qualname: str) -> Tool:
    return _resolve(importlib.import_module(module), qualname)


def _rebuild_tool(fn: Callable[..., Any], name: str, description: str) -> Tool:
    return Tool(fn, name=name, description=description)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _run_awaitable(awaitable: Any) -> Any:
    """Run an async tool's awaitable to completion, also when called from inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(awaitable))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:  # a loop is running: use a fresh one
        return pool.submit(asyncio.run, _await(awaitable)).result()


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None) -> Any:
    """Turn a type-hinted function with a Google-style docstring into a ``Tool``.

    >>> @tool
    ... def add(a: int, b: int) -> int:
    ...     '''Add two integers.
    ...
    ...     Args:
    ...         a: The first number.
    ...         b: The second number.
    ...     '''
    ...     return a + b
    >>> add.schema["function"]["parameters"]["properties"]["a"]
    {'description': 'The first number.', 'type': 'integer'}
    >>> add.run({"a": 2, "b": "3"}).error_kind
    'arguments'
    """
    if fn is None:
        return lambda f: Tool(f, name=name, description=description)
    return Tool(fn, name=name, description=description)


_ARG_LINE = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_google_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Return (description, {argument: description}) from a Google-style docstring."""
    description_lines: list[str] = []
    args: dict[str, str] = {}
    section = "description"
    current: str | None = None
    arg_indent = header_indent = 0
    for raw in doc.splitlines():
        line = raw.strip()
        if re.fullmatch(r"(Args|Arguments|Parameters|Keyword Args|Keyword Arguments):", line):
            section, current, header_indent = "args", None, _indent(raw)
            continue
        if re.fullmatch(r"(Returns?|Raises|Yields|Examples?|Notes?|See Also|Warnings?|Todo|Attributes):", line):
            section = "other"
            continue
        if section == "args" and line and _indent(raw) <= header_indent:
            section = "other"  # text back at the header's indent ends the section
        if section == "description":
            if not line and description_lines:
                section = "after_description"
            elif line:
                description_lines.append(line)
        elif section == "args" and line:
            match = _ARG_LINE.match(line)
            if match and (current is None or _indent(raw) <= arg_indent):
                current, arg_indent = match.group(1), _indent(raw)
                args[current] = match.group(2)
            elif current is not None:
                args[current] = f"{args[current]} {line}".strip()
    return " ".join(description_lines), args


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


# JSON Schema keywords whose value is a schema, a list of schemas, or a map from names to schemas. Only these are
# walked: a property or a definition may be NAMED "title", and values (default, enum, const, examples) are data.
_SUBSCHEMA_KEYS = frozenset(
    {"items", "additionalItems", "additionalProperties", "unevaluatedItems", "unevaluatedProperties", "contains"}
    | {"propertyNames", "not", "if", "then", "else", "allOf", "anyOf", "oneOf", "prefixItems"}
)
_SCHEMA_MAP_KEYS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


def _strip_titles(schema: Any) -> Any:
    """A copy of a JSON schema without the ``title`` annotations pydantic generates for each schema object."""
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    stripped: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _SCHEMA_MAP_KEYS and isinstance(value, dict):
            stripped[key] = {name: _strip_titles(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_KEYS:
            stripped[key] = _strip_titles(value)
        else:
            stripped[key] = value
    return stripped


def _short_validation_error(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        got = err.get("input")
        got_text = f", got {type(got).__name__} {json.dumps(got, default=str)[:60]}" if err["type"] != "missing" else ""
        parts.append(f"{where}: {err['msg']}{got_text}")
    return "; ".join(parts)
