"""One MCP client session run by an event loop in a daemon thread, for synchronous callers.

``Connection.start(server, startup_timeout)`` spawns the server (stdio) or opens the URL
(streamable HTTP), answers ``initialize``, and then serves ``request`` calls from any thread until
``close()``. Failures become ``MCPConnectionError`` (cannot start, no answer, connection lost),
``MCPTimeoutError`` and ``MCPRemoteError`` (the server answered with an error), each naming the server
and what was expected.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shlex
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

DEFAULT_TIMEOUT = 60.0
DEFAULT_STARTUP_TIMEOUT = 30.0
_GRACE = 15.0  # beyond a request's own timeout: the SDK's shutdown and cancellation are bounded by less


class MCPConnectionError(ConnectionError):
    """The MCP server could not be started or reached, did not answer, or the connection broke."""


class MCPTimeoutError(TimeoutError):
    """An MCP request got no answer in time (the session stays usable)."""


class MCPRemoteError(RuntimeError):
    """The MCP server answered a request with an error, or with an answer that is no valid result."""


@dataclass(frozen=True)
class StdioServer:
    """An MCP server run as a subprocess that speaks MCP over its stdin and stdout.

    ``env`` is added to the few variables the ``mcp`` SDK passes on (``PATH``, ``HOME``, ...).
    """

    command: str
    args: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    cwd: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.command, str) or not self.command:
            raise ValueError(f"StdioServer.command must be a non-empty string, got {self.command!r}")
        if isinstance(self.args, str) or not all(isinstance(a, str) for a in self.args):
            raise ValueError(f"StdioServer.args must be a list of strings, got {self.args!r}")
        object.__setattr__(self, "args", tuple(self.args))
        if self.env is not None:
            object.__setattr__(self, "env", {str(k): str(v) for k, v in self.env.items()})
        if self.cwd is not None:
            object.__setattr__(self, "cwd", os.fspath(self.cwd))

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "args": list(self.args), "env": self.env, "cwd": self.cwd}

    def __str__(self) -> str:
        return shlex.join([self.command, *self.args])


ServerSpec = StdioServer | str


def as_server(server: Any) -> StdioServer | str:
    """A ``StdioServer`` from a command list, or the URL itself; anything else is a ``ValueError``."""
    if isinstance(server, StdioServer):
        return server
    if isinstance(server, str):
        if server.startswith(("http://", "https://")):
            return server
        what = f"the string {server!r}"
    elif isinstance(server, Sequence) and server and all(isinstance(p, str) for p in server):
        return StdioServer(server[0], tuple(server[1:]))
    else:
        what = repr(server)
    raise ValueError(
        f"expected an MCP server as a command list (['python', 'server.py']), a StdioServer or an "
        f"http(s)://host:port/mcp URL, got {what}"
    )


class Connection:
    """An initialized ``ClientSession``; ``request`` runs a coroutine on it from any thread."""

    def __init__(self, server: StdioServer | str):
        self.server = server
        self.pid = os.getpid()
        self.broken: str | None = None  # why the session ended, once it has
        self.stderr = None  # a stdio server's stderr, kept for error messages; closed by close()
        if isinstance(server, StdioServer):
            self.stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self.loop: asyncio.AbstractEventLoop | None = None
        self._session: ClientSession | None = None
        self._stop: asyncio.Event | None = None
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, server: StdioServer | str, startup_timeout: float) -> Connection:
        """Connect and initialize, or raise ``MCPConnectionError`` saying what went wrong."""
        connection = cls(server)
        connection._thread = threading.Thread(
            target=connection._run, args=(startup_timeout,), name=f"mcp-client {server}", daemon=True
        )
        connection._thread.start()
        try:
            connection._ready.result(startup_timeout + _GRACE)
        except concurrent.futures.TimeoutError:
            connection.close()
            raise MCPConnectionError(f"{connection._describe()} did not start within {startup_timeout}s") from None
        except BaseException as exc:
            message = connection._startup_failure(exc, startup_timeout)  # before close() drops the stderr file
            connection.close()
            raise MCPConnectionError(message) from None
        return connection

    def _run(self, startup_timeout: float) -> None:
        with asyncio.Runner() as runner:
            self.loop = runner.get_loop()
            runner.run(self._main(startup_timeout))

    async def _main(self, startup_timeout: float) -> None:
        self._stop = asyncio.Event()
        try:
            async with AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(ClientSession(read, write))
                with anyio.fail_after(startup_timeout):
                    await session.initialize()
                self._session = session
                self._ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:  # the thread ends here; the error goes to whoever waits or calls next
            self._session = None
            self.broken = self.broken or _leaf_text(exc)
            if not self._ready.done():
                self._ready.set_exception(exc)
        finally:
            self._session = None
            self.broken = self.broken or "the connection is closed"

    def _transport(self) -> Any:
        if isinstance(self.server, str):
            return streamable_http_client(self.server)
        params = StdioServerParameters(
            command=self.server.command, args=list(self.server.args), env=self.server.env, cwd=self.server.cwd
        )
        return stdio_client(params, errlog=self.stderr)

    def request(self, make: Callable[[ClientSession], Awaitable[Any]], what: str, timeout: float) -> Any:
        """Run ``make(session)`` on the loop and wait at most ``timeout`` (plus a margin) for it."""
        session, loop = self._session, self.loop
        if session is None or loop is None or self.broken is not None:
            raise MCPConnectionError(f"{self._describe()}: the connection is gone ({self.broken}){self._stderr_hint()}")
        coroutine = _call(make, session)
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # the loop closed meanwhile
            coroutine.close()
            raise MCPConnectionError(f"{self._describe()}: the connection is gone ({self.broken})") from None
        try:
            return future.result(timeout + _GRACE)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise MCPTimeoutError(f"{self._describe()}: {what} got no answer within {timeout}s") from None
        except MCPError as exc:
            if exc.code == REQUEST_TIMEOUT:
                raise MCPTimeoutError(f"{self._describe()}: {what} got no answer within {timeout}s") from None
            if exc.code == CONNECTION_CLOSED:
                self.broken = self.broken or "connection closed"
                raise self._lost(what) from None
            raise MCPRemoteError(f"{self._describe()} answered {what} with error {exc.code}: {exc.message}") from None
        except (concurrent.futures.CancelledError, asyncio.CancelledError):  # the session ended under the call
            raise self._lost(what) from None
        except Exception as exc:  # a result that does not validate, say
            raise MCPRemoteError(f"{self._describe()} gave an invalid answer to {what}: {_leaf_text(exc)}") from None

    def stderr_tail(self, chars: int = 2000) -> str:
        """The end of the server's stderr (read without moving the server's write offset)."""
        if self.stderr is None or self.stderr.closed:
            return ""
        fd = self.stderr.fileno()
        size = os.fstat(fd).st_size
        return os.pread(fd, chars * 4, max(0, size - chars * 4)).decode("utf-8", "replace")[-chars:]

    def close(self, timeout: float = 15.0) -> None:
        """End the session and stop the server; returns once the thread ended (or ``timeout`` passed)."""
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.broken = self.broken or "the connection is closed"
        if self.stderr is not None and (self._thread is None or not self._thread.is_alive()):
            self.stderr.close()

    def _describe(self) -> str:
        return describe(self.server)

    def _lost(self, what: str) -> MCPConnectionError:
        return MCPConnectionError(f"{self._describe()}: the connection closed during {what}{self._stderr_hint()}")

    def _stderr_hint(self) -> str:
        tail = self.stderr_tail(600).strip()
        return f"; its stderr ends: {tail!r}" if tail else ""

    def _startup_failure(self, exc: BaseException, startup_timeout: float) -> str:
        leaf = _leaf(exc)
        if isinstance(leaf, TimeoutError):
            got = f"no answer within {startup_timeout}s"
        elif isinstance(leaf, OSError) and not isinstance(self.server, str):
            return f"could not start {self._describe()}: {type(leaf).__name__}: {leaf.strerror or leaf}"
        elif isinstance(leaf, MCPError) and leaf.code == CONNECTION_CLOSED:
            got = "the connection closed (the server exited, or wrote something else than MCP messages)"
        else:
            got = _leaf_text(leaf)
        failed = "did not answer" if isinstance(self.server, str) else "did not start"
        return f"{self._describe()} {failed}: expected an answer to MCP initialize, got {got}{self._stderr_hint()}"


def describe(server: StdioServer | str) -> str:
    """``MCP server at http://...`` or ``MCP server 'python server.py'``, for messages."""
    return f"MCP server at {server}" if isinstance(server, str) else f'MCP server "{server}"'


async def _call(make: Callable[[ClientSession], Awaitable[Any]], session: ClientSession) -> Any:
    return await make(session)


def _leaf(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _leaf_text(exc: BaseException) -> str:
    leaf = _leaf(exc)
    return f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__
