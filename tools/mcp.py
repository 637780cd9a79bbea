"""MCP (Model Context Protocol) servers' tools as turngym tools.

Any MCP server, run as a subprocess (stdio) or reached at a streamable-HTTP URL, offers its tools
to every turngym env::

    import gymnasium as gym
    import turngym
    from turngym.tools.mcp import mcp_tools

    env = gym.make("turngym/ToolCalc-v0", tools=mcp_tools(["python", "my_server.py"]))
    env = gym.make("turngym/ToolCalc-v0", tools=mcp_tools("http://127.0.0.1:8765/mcp", prefix="remote_"))

Each remote tool is a ``RemoteTool``: its schema is the server's JSON schema, its arguments are
validated against that schema before the call (a failure is an ``arguments`` error, like a local
tool's), a result flagged ``isError`` or a server-side error is ``raised``, a call past its timeout
is ``timeout`` and a dead or unreachable server is ``sandbox``. ``MCPClient`` keeps one session per
server open in a background thread with its own event loop, reconnects when the server died, and
stops the server process on ``close()``, when garbage collected, and at interpreter exit. A remote
tool pickles by its server and reconnects lazily in the new process (process-pool vector envs).

The other direction, turngym tools served over MCP, is ``turngym.tools.mcp_server``.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jsonschema
import mcp.types as mcp_types

from turngym.tools.core import Tool, ToolResult
from turngym.tools.mcp_connection import (
    DEFAULT_STARTUP_TIMEOUT,
    DEFAULT_TIMEOUT,
    Connection,
    MCPConnectionError,
    MCPRemoteError,
    MCPTimeoutError,
    ServerSpec,
    StdioServer,
    as_server,
    describe,
)

ERROR_KIND_META = "turngym/error_kind"
"""``_meta`` key in which a turngym MCP server names the turngym error kind of a failed call."""

__all__ = [
    "MCPClient",
    "MCPConnectionError",
    "MCPRemoteError",
    "MCPTimeoutError",
    "RemoteTool",
    "StdioServer",
    "content_text",
    "mcp_tools",
]


class _Holder:
    """The client's current connection, kept apart from the client so that its finalizer can
    close the connection without keeping the client alive."""

    def __init__(self) -> None:
        self.connection: Connection | None = None

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None and connection.pid == os.getpid():  # a forked child has no thread to stop
            connection.close()


class MCPClient:
    """One MCP session with one server, usable from synchronous code.

    Args:
        server: a command list (``["python", "server.py"]``), a ``StdioServer``, or a URL
            (``http://host:port/mcp``, streamable HTTP).
        timeout: default seconds a tool call may take.
        startup_timeout: seconds the server has to start and answer ``initialize``.

    The connection opens at once, so that a bad command or URL fails here with a clear
    ``MCPConnectionError``; a connection whose server died is reopened on the next request.
    """

    def __init__(
        self,
        server: ServerSpec | Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ):
        for name, value in (("timeout", timeout), ("startup_timeout", startup_timeout)):
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        self.server = as_server(server)
        self.timeout = float(timeout)
        self.startup_timeout = float(startup_timeout)
        self.closed = False
        self._lock = threading.Lock()
        self._holder = _Holder()
        self._finalizer = weakref.finalize(self, _Holder.close, self._holder)  # also runs at interpreter exit
        self._connection()
        _CLIENTS.setdefault(_server_key(self.server), self)

    def _connection(self) -> Connection:
        with self._lock:
            if self.closed:
                raise MCPConnectionError(f"{describe(self.server)}: the client is closed")
            connection = self._holder.connection
            if connection is None or connection.broken is not None or connection.pid != os.getpid():
                self._holder.close()
                self._holder.connection = connection = Connection.start(self.server, self.startup_timeout)
            return connection

    def list_tools(self) -> list[mcp_types.Tool]:
        """Every tool the server offers (all pages)."""
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        while True:
            params = mcp_types.PaginatedRequestParams(cursor=cursor)
            page = self._connection().request(lambda s, p=params: s.list_tools(params=p), "tools/list", self.timeout)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                return tools

    def call_tool(
        self, name: str, arguments: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> mcp_types.CallToolResult:
        """Call a tool and return the server's ``CallToolResult`` (``is_error`` marks a failed call).

        Raises ``MCPTimeoutError`` past ``timeout`` (default: the client's), ``MCPConnectionError``
        when the server is gone, ``MCPRemoteError`` when the server answers with a protocol error.
        """
        seconds = self.timeout if timeout is None else timeout
        args = dict(arguments or {})
        return self._connection().request(
            lambda s: s.call_tool(name, args, read_timeout_seconds=seconds), f"tools/call {name}", seconds
        )

    def tools(self, *, include: Iterable[str] | None = None, prefix: str = "") -> list[RemoteTool]:
        """The server's tools as turngym tools (only those named in ``include``, if given), named
        ``prefix + name``."""
        listed = self.list_tools()
        offered = [t.name for t in listed]
        if include is not None:
            if isinstance(include, str):
                raise TypeError(f"include must be a list of tool names, got the string {include!r}")
            wanted = list(include)
            missing = [n for n in wanted if n not in offered]
            if missing:
                raise ValueError(
                    f"{describe(self.server)} has no tool named {', '.join(map(repr, missing))}; it offers {offered}"
                )
            listed = [t for t in listed if t.name in wanted]
        return [
            RemoteTool(self.server, t.name, t.description or "", t.input_schema, prefix=prefix, timeout=self.timeout, client=self)
            for t in listed
        ]

    def stderr_tail(self, chars: int = 2000) -> str:
        """The end of a stdio server's stderr (empty for HTTP servers or before a connection)."""
        connection = self._holder.connection
        return connection.stderr_tail(chars) if connection is not None else ""

    def close(self) -> None:
        """End the session and stop the server process (idempotent)."""
        with self._lock:
            self.closed = True
            self._finalizer()
        key = _server_key(self.server)
        if _CLIENTS.get(key) is self:
            del _CLIENTS[key]

    def __enter__(self) -> MCPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MCPClient({str(self.server)!r}{', closed' if self.closed else ''})"


_CLIENTS: weakref.WeakValueDictionary[str, MCPClient] = weakref.WeakValueDictionary()
"""A live client per server, shared by tools rebuilt from pickles (one session per server and process)."""
_CLIENTS_LOCK = threading.Lock()


def _server_key(server: StdioServer | str) -> str:
    return server if isinstance(server, str) else json.dumps(server.as_dict(), sort_keys=True)


def _shared_client(server: StdioServer | str, timeout: float) -> MCPClient:
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(_server_key(server))
        if client is None or client.closed:
            client = MCPClient(server, timeout=timeout)
        return client


class RemoteTool(Tool):
    """A tool served by an MCP server. ``name``, ``description`` and ``parameters`` (the input
    JSON schema) come from the server; ``run`` validates arguments against the schema and calls it.

    Tools of one ``mcp_tools`` call share one ``MCPClient``; an unpickled tool connects on first use.
    """

    def __init__(
        self,
        server: ServerSpec | Sequence[str],
        remote_name: str,
        description: str,
        input_schema: Mapping[str, Any],
        *,
        prefix: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        client: MCPClient | None = None,
    ):
        # No Tool.__init__: the schema comes from the server, not from a Python signature.
        self.server = as_server(server)
        self.remote_name = remote_name
        self.prefix = prefix
        self.name = prefix + remote_name
        self.description = description or self.name
        self.parameters: dict[str, Any] = copy.deepcopy(dict(input_schema))
        self.hidden: tuple[str, ...] = ()
        self.timeout = timeout
        self._client = client
        validator_class = jsonschema.validators.validator_for(self.parameters, default=jsonschema.Draft202012Validator)
        try:
            validator_class.check_schema(self.parameters)
        except jsonschema.SchemaError as exc:
            raise ValueError(
                f"{describe(self.server)}: tool {remote_name!r} has an invalid input schema: {exc.message}"
            ) from None
        self._validator = validator_class(self.parameters)

    @property
    def client(self) -> MCPClient:
        """The client that calls the server (a shared one, created on first use, after unpickling)."""
        if self._client is None:
            self._client = _shared_client(self.server, self.timeout)
        return self._client

    def run(self, arguments: Mapping[str, Any], hidden: Mapping[str, Any] | None = None) -> ToolResult:
        """Validate ``arguments`` against the input schema, call the server, and turn every failure
        into a ``ToolResult`` (``hidden`` is unused: remote tools have no hidden arguments)."""
        if not isinstance(arguments, Mapping):
            got = type(arguments).__name__
            return ToolResult(False, f"invalid arguments for {self.name}: expected a JSON object, got {got}", "arguments")
        problems = validation_problems(self._validator, dict(arguments))
        if problems:
            return ToolResult(False, f"invalid arguments for {self.name}: {problems}", "arguments")
        try:
            result = self.client.call_tool(self.remote_name, dict(arguments), timeout=self.timeout)
        except MCPTimeoutError as exc:
            return ToolResult(False, f"{self.name}: {exc}", "timeout")
        except MCPConnectionError as exc:
            return ToolResult(False, f"{self.name}: {exc}", "sandbox")
        except MCPRemoteError as exc:
            return ToolResult(False, f"{self.name}: {exc}", "raised")
        text = content_text(result)
        if not result.is_error:
            return ToolResult(True, text)
        kind = (result.meta or {}).get(ERROR_KIND_META)
        if kind in ("arguments", "raised", "sandbox", "timeout"):  # a turngym server names the boundary
            return ToolResult(False, text, kind)
        return ToolResult(False, f"{self.name} failed on the MCP server: {text}", "raised")

    def __call__(self, **arguments: Any) -> str:
        """Call the tool directly: its text on success; ``MCPRemoteError`` on any failure."""
        result = self.run(arguments)
        if not result.ok:
            raise MCPRemoteError(result.output)
        return result.output

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by server, name and schema; the copy connects when first run."""
        return (
            _rebuild_remote_tool,
            (self.server, self.remote_name, self.description, self.parameters, self.prefix, self.timeout),
        )

    def __repr__(self) -> str:
        return f"RemoteTool({self.name!r}, server={str(self.server)!r})"


def _rebuild_remote_tool(
    server: StdioServer | str, remote_name: str, description: str, parameters: dict[str, Any], prefix: str, timeout: float
) -> RemoteTool:
    return RemoteTool(server, remote_name, description, parameters, prefix=prefix, timeout=timeout)


def validation_problems(validator: Any, instance: Any, limit: int = 3) -> str:
    """``"a: 'x' is not of type 'integer'; 'b' is a required property"`` (empty when valid)."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    parts = []
    for err in errors[:limit]:
        where = ".".join(str(p) for p in err.absolute_path)
        parts.append(f"{where}: {err.message}" if where else err.message)
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


def content_text(result: mcp_types.CallToolResult) -> str:
    """A result's text blocks joined by newlines; other blocks described in brackets; the
    structured content as JSON when there is no content block."""
    parts = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
            kind = "image" if isinstance(block, mcp_types.ImageContent) else "audio"
            parts.append(f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource link {block.uri}{f' ({block.name})' if block.name else ''}]")
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if text is not None else f"[resource {resource.uri}, {resource.mime_type or 'binary'}]")
        else:
            parts.append(f"[{getattr(block, 'type', type(block).__name__)} content]")
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content)
    return "\n".join(parts)


def mcp_tools(
    server: ServerSpec | Sequence[str],
    *,
    include: Iterable[str] | None = None,
    prefix: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
) -> list[RemoteTool]:
    """Connect to an MCP server and return its tools as turngym tools (see the module docstring).

    Args:
        server: a command list (``["python", "server.py"]``), a ``StdioServer``, or a URL
            ``http://host:port/mcp``.
        include: only these tool names (default: all).
        prefix: prepended to every tool's name (to keep names unique across servers).
        timeout: seconds each call may take (then the call fails with error kind ``timeout``).
        startup_timeout: seconds the server has to start and answer.
    """
    return MCPClient(server, timeout=timeout, startup_timeout=startup_timeout).tools(include=include, prefix=prefix)
