"""turngym tools served to any MCP client (``turngym serve mcp``).

From the command line, an env's tools after ``reset(seed)`` (hidden arguments such as the task are
the env's), or tools from a module::

    turngym serve mcp --env turngym/ToolCalc-v0 --seed 0                     # stdio
    turngym serve mcp --env turngym/ToolCalc-v0 --transport http --port 8765  # http://127.0.0.1:8765/mcp
    turngym serve mcp --tools turngym.tools.calculator:calculator

From Python::

    from turngym.tools import calculator
    from turngym.tools.mcp_server import serve_tools

    serve_tools([calculator], transport="http", port=8765)

Each tool is listed with its turngym schema; a failed call is an ``isError`` result whose text is
turngym's error text and whose ``_meta`` names the error kind (``turngym/error_kind``), which
``turngym.tools.mcp`` reads back. Calls run one at a time in a worker thread.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import anyio
import anyio.to_thread
import mcp.types as mcp_types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

import turngym
from turngym.tools.core import Tool
from turngym.tools.mcp import ERROR_KIND_META

Transport = Literal["stdio", "http"]
MCP_PATH = "/mcp"


def build_server(tools: Sequence[Tool], *, name: str = "turngym", hidden: Mapping[str, Any] | None = None) -> Server:
    """A low-level MCP ``Server`` that lists ``tools`` and runs them, passing ``hidden`` to the tools
    that declare hidden arguments."""
    by_name = _check_tools(tools, hidden)
    listed = [mcp_types.Tool(name=t.name, description=t.description, input_schema=t.parameters) for t in by_name.values()]
    one_at_a_time = anyio.Lock()

    async def list_tools(ctx: Any, params: mcp_types.PaginatedRequestParams | None) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(tools=[t.model_copy(deep=True) for t in listed])

    async def call_tool(ctx: Any, params: mcp_types.CallToolRequestParams) -> mcp_types.CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            text = f"no tool named {params.name!r}; available: {', '.join(by_name) or 'none'}"
            return _error(text, "unknown_tool")
        async with one_at_a_time:
            result = await anyio.to_thread.run_sync(tool.run, params.arguments or {}, hidden)
        if not result.ok:
            return _error(result.output, result.error_kind or "raised")
        return mcp_types.CallToolResult(content=[mcp_types.TextContent(text=result.output)])

    return Server(name, version=turngym.__version__, on_list_tools=list_tools, on_call_tool=call_tool)


def _error(text: str, kind: str) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(content=[mcp_types.TextContent(text=text)], is_error=True, meta={ERROR_KIND_META: kind})


def _check_tools(tools: Sequence[Tool], hidden: Mapping[str, Any] | None) -> dict[str, Tool]:
    tools = list(tools)
    bad = [t for t in tools if not isinstance(t, Tool)]
    if bad:
        raise TypeError(f"expected turngym Tool objects (use @tool), got {bad[0]!r}")
    if not tools:
        raise ValueError("expected at least one tool to serve, got none")
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise ValueError(f"tool names must be unique, got {names}")
    for t in tools:
        missing = [h for h in t.hidden if h not in (hidden or {})]
        if missing:
            raise ValueError(
                f"tool {t.name!r} needs hidden arguments {missing}; got values for {sorted(hidden or {})} (serve an env's tools)"
            )
    return {t.name: t for t in tools}


def serve_tools(
    tools: Sequence[Tool],
    *,
    name: str = "turngym",
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
    hidden: Mapping[str, Any] | None = None,
) -> None:
    """Serve ``tools`` over MCP until the client leaves (stdio: stdin closes) or the process gets
    SIGINT/SIGTERM (http). Over HTTP the endpoint is ``http://host:port/mcp`` (port 0 picks a free
    port); the line ``serving N tools (...) at URL`` goes to stdout once it listens (stderr for stdio)."""
    if transport not in ("stdio", "http"):
        raise ValueError(f"transport must be 'stdio' or 'http', got {transport!r}")
    tools = list(tools)
    server = build_server(tools, name=name, hidden=hidden)
    names = ", ".join(t.name for t in tools)
    if transport == "stdio":
        print(f"serving {len(tools)} tools ({names}) over stdio", file=sys.stderr, flush=True)
        anyio.run(_serve_stdio, server)
        return
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)  # OSError when the port is taken
    bound = sock.getsockname()[1]
    url = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{bound}{MCP_PATH}"
    config = uvicorn.Config(
        server.streamable_http_app(streamable_http_path=MCP_PATH, host=host), log_level="warning", timeout_graceful_shutdown=5
    )
    print(f"serving {len(tools)} tools ({names}) at {url}", flush=True)
    with _stop_on_signals():
        uvicorn.Server(config).run(sockets=[sock])
    print("shutting down", flush=True)


class _Stop(Exception):
    """SIGINT or SIGTERM, re-raised by uvicorn after its graceful shutdown."""


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """uvicorn shuts down on SIGINT/SIGTERM and then raises the signal again for the previous
    handler: here that handler ends the serving quietly (no traceback, exit status 0)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise _Stop

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except _Stop:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def _serve_stdio(server: Server) -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def env_tools(env_id: str, *, seed: int | None = 0, **kwargs: Any) -> tuple[list[Tool], dict[str, Any], Any]:
    """Make ``env_id`` with ``kwargs``, reset it with ``seed``, and return its tools, the values of
    their hidden arguments (``_hidden_args()``, live: a tool that changes the episode state keeps
    changing it), and the env (keep it open while serving)."""
    env = turngym.make(env_id, **kwargs)
    env.reset(seed=seed)
    base = env.unwrapped
    return list(base.tools.values()), base._hidden_args(), env


def load_tools(reference: str) -> list[Tool]:
    """The tools at ``module:attr`` (a ``Tool`` or a list of them), e.g. ``turngym.tools:calculator``."""
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected module:attr (e.g. turngym.tools:calculator), got {reference!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} for {reference!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    found = [obj] if isinstance(obj, Tool) else list(obj) if isinstance(obj, list | tuple) else None
    if not found or not all(isinstance(t, Tool) for t in found):
        raise ValueError(f"expected {reference} to be a Tool or a list of Tools, got {type(obj).__name__} {obj!r:.80}")
    return found
