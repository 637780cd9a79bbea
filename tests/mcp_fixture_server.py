"""A small MCP server, written with the ``mcp`` SDK's own ``MCPServer``, that the MCP tests start as a
process: ``python mcp_fixture_server.py`` serves over stdio, ``python mcp_fixture_server.py --http``
over streamable HTTP on a free port and prints ``serving at http://127.0.0.1:PORT/mcp``."""

from __future__ import annotations

import argparse
import base64
import os
import socket
import sys
import time

from mcp import MCPError
from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("turngym-fixture")

PNG_1x1 = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str, times: int = 1) -> str:
    """Upper-case a text and repeat it."""
    return " ".join([text.upper()] * times)


@server.tool()
def fail(message: str) -> str:
    """Always fails with the given message (an isError result)."""
    raise ToolError(message)


@server.tool()
def refuse(reason: str) -> str:
    """Always answers with a JSON-RPC error (invalid params)."""
    raise MCPError(code=-32602, message=reason)


@server.tool()
def nap(seconds: float) -> str:
    """Sleep, then say how long."""
    time.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def crash() -> str:
    """Ends the server process at once."""
    os._exit(3)


@server.tool()
def picture() -> Image:
    """A 1x1 PNG."""
    return Image(data=PNG_1x1, format="png")


def serve_http() -> None:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts: the URL is usable once printed
    port = sock.getsockname()[1]
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning")
    print(f"serving at http://127.0.0.1:{port}/mcp", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", action="store_true")
    if parser.parse_args().http:
        serve_http()
    else:
        print("fixture server on stdio", file=sys.stderr)
        server.run()
