"""MCP both ways, against real server processes: a third-party MCP server's tools in a turngym env
(stdio and streamable HTTP), and ``turngym serve mcp`` answering the official ``mcp`` client."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import gymnasium as gym
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from typer.testing import CliRunner

import turngym
from turngym.cli import app
from turngym.tools import calculator
from turngym.tools.mcp import MCPClient, MCPConnectionError, RemoteTool, StdioServer, content_text, mcp_tools
from turngym.tools.mcp_server import build_server, load_tools

FIXTURE = str(Path(__file__).with_name("mcp_fixture_server.py"))
FIXTURE_COMMAND = [sys.executable, FIXTURE]
SERVE_COMMAND = [sys.executable, "-m", "turngym", "serve", "mcp", "--env", "turngym/ToolCalc-v0", "--seed", "0"]
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}


def live_children() -> set[int]:
    """Pids of this process's children that are still running (zombies excluded)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            pids.add(int(stat.parent.name))
    return pids


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if pid not in live_children():
            return True
        time.sleep(0.05)
    return False


def call(name: str, **arguments: object) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def start_http(command: list[str]) -> tuple[subprocess.Popen, str, threading.Timer]:
    """Start an HTTP MCP server that prints its URL; a watchdog kills it if it hangs."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        watchdog.cancel()
        pytest.fail(f"server printed no URL: {line!r} {proc.stderr.read()}")
    return proc, line.rsplit(" ", 1)[1].strip(), watchdog


def stop_http(proc: subprocess.Popen, watchdog: threading.Timer, sig: int = signal.SIGTERM) -> tuple[str, str]:
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=20)
    finally:
        watchdog.cancel()
        proc.kill()


# --- without a server ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["python server.py", [], [1, 2], None, "ftp://x/mcp"])
def test_a_server_spec_that_is_none_says_what_was_expected(bad):
    with pytest.raises(ValueError, match=r"expected an MCP server as a command list .* got"):
        MCPClient(bad)


def test_remote_tool_validates_against_the_json_schema_before_any_call():
    tool = RemoteTool(["no-such-server"], "add", "Add.", SCHEMA, prefix="m_")
    assert (tool.name, tool.hidden, tool.parameters) == ("m_add", (), SCHEMA)
    assert tool.schema == {"type": "function", "function": {"name": "m_add", "description": "Add.", "parameters": SCHEMA}}
    result = tool.run({"a": "1"})
    assert (result.ok, result.error_kind) == (False, "arguments")
    assert result.output == "invalid arguments for m_add: 'b' is a required property; a: '1' is not of type 'integer'"
    assert tool.run(["a"]).output == "invalid arguments for m_add: expected a JSON object, got list"
    assert tool._client is None  # no connection was attempted
    copy = pickle.loads(pickle.dumps(tool))
    assert (copy.name, copy.parameters, copy.server, copy._client) == ("m_add", SCHEMA, StdioServer("no-such-server"), None)
    with pytest.raises(ValueError, match="invalid input schema"):
        RemoteTool(["x"], "bad", "", {"type": "no-such-type"})


def test_content_text_joins_text_and_describes_other_blocks():
    import mcp.types as t

    image = t.ImageContent(data="AAAA", mime_type="image/png")
    link = t.ResourceLink(uri="file:///a.txt", name="a")
    embedded = t.EmbeddedResource(resource=t.TextResourceContents(uri="file:///b.txt", text="inside"))
    result = t.CallToolResult(content=[t.TextContent(text="one"), image, link, embedded, t.TextContent(text="two")])
    assert content_text(result) == "one\n[image image/png, 3 bytes]\n[resource link file:///a.txt (a)]\ninside\ntwo"
    assert content_text(t.CallToolResult(content=[], structured_content={"result": 3})) == '{"result": 3}'


def test_serving_checks_tools_and_hidden_arguments():
    from turngym.envs.toolcalc import lookup

    with pytest.raises(ValueError, match=r"tool 'lookup' needs hidden arguments \['task'\]"):
        build_server([lookup])
    with pytest.raises(ValueError, match="unique"):
        build_server([calculator, calculator])
    assert load_tools("turngym.tools:calculator") == [calculator]
    with pytest.raises(ValueError, match="expected module:attr"):
        load_tools("calculator")
    with pytest.raises(ValueError, match="to be a Tool or a list of Tools, got str"):
        load_tools("turngym:__version__")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "mcp"], "expected --env ENV_ID or --tools module:attr"),
        (["serve", "mcp", "--tools", "turngym.tools:calculator", "--transport", "sse"], "expected stdio or http"),
        (["serve", "mcp", "--env", "turngym/ToolCalk-v0"], "ToolCalc"),
        (["serve", "mcp", "--tools", "turngym.envs.toolcalc:lookup"], "needs hidden arguments"),
    ],
)
def test_serve_mcp_rejects_bad_options(args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


# --- an MCP server's tools in an env ----------------------------------------------------------------


def play_remote_tools(env) -> None:
    """Step an env through the fixture's tools; checks what the model sees."""
    obs, info = env.reset(seed=0)
    assert '"name": "add"' in obs[0]["content"]  # the remote schema is in the system prompt
    obs, reward, terminated, truncated, info = env.step(call("add", a=2, b=40))
    assert obs[0]["content"] == "42"
    assert info["tool_calls"][0]["ok"] and not terminated
    obs, *_, info = env.step(call("add", a=2))
    assert obs[0]["content"].startswith("Error (tool arguments): invalid arguments for add: 'b' is a required property")
    obs, *_, info = env.step(call("shout", text="hi", times=2) + call("fail", message="boom"))
    assert obs[0]["content"] == "HI HI"
    assert info["tool_calls"][1]["error_kind"] == "raised" and "boom" in obs[1]["content"]
    while not (terminated or truncated):  # the env's own tools still solve the task
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
    assert terminated and info["reward_parts"]["outcome"] == 1.0


@pytest.mark.slow
def test_env_calls_tools_of_an_mcp_server_over_stdio():
    before = live_children()
    tools = mcp_tools(FIXTURE_COMMAND, include=["add", "shout", "fail"])
    env = gym.make("turngym/ToolCalc-v0", tools=tools)
    (server,) = live_children() - before
    play_remote_tools(env)
    with pytest.raises(ValueError, match=r"has no tool named 'nope'; it offers \['add', 'shout', 'fail', "):
        tools[0].client.tools(include=["add", "nope"])
    env.close()
    tools[0].client.close()
    assert gone(server), "the MCP server process outlived close()"


@pytest.mark.slow
def test_env_calls_tools_of_an_mcp_server_over_http():
    proc, url, watchdog = start_http([*FIXTURE_COMMAND, "--http"])
    try:
        tools = mcp_tools(url)
        env = gym.make("turngym/ToolCalc-v0", tools=tools)
        play_remote_tools(env)
        add = next(t for t in tools if t.name == "add")
    finally:
        stop_http(proc, watchdog)
    assert proc.returncode is not None
    result = add.run({"a": 1, "b": 2})  # the server is gone: a failure at the tool's boundary
    assert (result.ok, result.error_kind) == (False, "sandbox")
    assert url in result.output
    add.client.close()


@pytest.mark.slow
def test_timeouts_and_a_crashed_server_are_tool_failures_and_the_client_recovers(tmp_path):
    before = live_children()
    with MCPClient(StdioServer(sys.executable, [FIXTURE], env={"X": "1"}, cwd=tmp_path), timeout=1) as client:
        tools = {t.name: t for t in client.tools(prefix="fx_")}
        first_pid = int(tools["fx_pid"].run({}).output)
        slow = tools["fx_nap"].run({"seconds": 5})
        assert (slow.ok, slow.error_kind) == (False, "timeout")
        assert "tools/call nap got no answer within 1.0s" in slow.output
        assert tools["fx_add"].run({"a": 1, "b": 1}).output == "2"  # the session survived the timeout
        crash = tools["fx_crash"].run({})
        assert (crash.ok, crash.error_kind) == (False, "sandbox")
        assert "the connection closed during tools/call crash" in crash.output
        assert "fixture server on stdio" in crash.output  # the server's stderr
        second_pid = int(tools["fx_pid"].run({}).output)  # reconnected to a fresh server
        assert second_pid != first_pid and first_pid not in live_children()
        assert tools["fx_picture"].run({}).output == "[image image/png, 69 bytes]"
        refused = tools["fx_refuse"].run({"reason": "not today"})
        assert (refused.ok, refused.error_kind) == (False, "raised")
        assert refused.output.endswith("answered tools/call refuse with error -32602: not today")
    assert gone(second_pid) and live_children() - before == set()


@pytest.mark.slow
def test_a_server_that_cannot_start_or_does_not_answer_is_a_clear_error():
    before = live_children()
    with pytest.raises(MCPConnectionError, match=r"could not start MCP server \"/no/such/server\": FileNotFoundError"):
        MCPClient(["/no/such/server"])
    garbage = [sys.executable, "-c", "import sys; print('hello'); print('no MCP here', file=sys.stderr)"]
    with pytest.raises(
        MCPConnectionError, match=r"did not start: expected an answer to MCP initialize, got the connection closed"
    ):
        try:
            MCPClient(garbage)
        except MCPConnectionError as exc:
            assert "its stderr ends: 'no MCP here'" in str(exc)
            raise
    silent = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(MCPConnectionError, match=r"got no answer within 1.0s"):
        MCPClient(silent, startup_timeout=1)
    with pytest.raises(MCPConnectionError, match=r"MCP server at http://127.0.0.1:9/mcp did not answer: .*ConnectError"):
        MCPClient("http://127.0.0.1:9/mcp", startup_timeout=5)
    assert live_children() - before == set()


@pytest.mark.slow
def test_remote_tools_travel_to_process_workers_and_reconnect_there():
    tools = mcp_tools(FIXTURE_COMMAND, include=["add", "pid"])
    here = int(tools[1].run({}).output)
    assert pickle.loads(pickle.dumps(tools[0])).client is tools[0].client  # same process: same session
    with turngym.make_vec("turngym/ToolCalc-v0", 2, mode="process", tools=tools) as vec:
        vec.reset(seed=0)
        obs, rewards, terminated, truncated, infos = vec.step([call("add", a=1, b=2), call("pid")])
        assert obs[0][0]["content"] == "3"
        worker_server = int(obs[1][0]["content"])
        assert worker_server != here  # the worker runs its own server process
    tools[0].client.close()
    assert gone(here) and gone(worker_server)


# --- turngym tools served over MCP --------------------------------------------------------------------


def expected_from_env() -> tuple[dict, list[tuple[str, dict, bool, str]]]:
    """The env's tool schemas and the results of a few calls, run in process."""
    env = turngym.make("turngym/ToolCalc-v0")
    env.reset(seed=0)
    base = env.unwrapped
    item = next(iter(base.state.task.facts["table"]))
    calls = [
        ("lookup", {"item": item, "field": "price"}),
        ("lookup", {"item": "Nothing", "field": "price"}),
        ("calculator", {"expression": "(2 + 3) * 7"}),
        ("calculator", {"expression": 5}),
    ]
    results = []
    for name, arguments in calls:
        result = base.tools[name].run(arguments, base._hidden_args())
        results.append((name, arguments, result.ok, result.output))
    env.close()
    return {n: t.parameters for n, t in base.tools.items()}, results


async def check_with_official_client(read, write, schemas, expected) -> None:
    async with ClientSession(read, write) as session:
        with anyio.fail_after(30):
            await session.initialize()
            listed = (await session.list_tools()).tools
            assert {t.name: t.input_schema for t in listed} == schemas
            for name, arguments, ok, output in expected:
                result = await session.call_tool(name, arguments)
                assert (not result.is_error, result.content[0].text) == (ok, output)


@pytest.mark.slow
def test_serve_mcp_over_stdio_answers_the_official_client():
    schemas, expected = expected_from_env()
    assert [ok for *_, ok, _ in expected] == [True, False, True, False]
    before = live_children()

    async def main():
        params = StdioServerParameters(command=SERVE_COMMAND[0], args=SERVE_COMMAND[1:])
        async with stdio_client(params) as (read, write):
            await check_with_official_client(read, write, schemas, expected)

    anyio.run(main)
    assert live_children() - before == set()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_serve_mcp_over_http_answers_the_official_client_and_stops_on_a_signal(sig):
    schemas, expected = expected_from_env()
    proc, url, watchdog = start_http([*SERVE_COMMAND, "--transport", "http", "--port", "0"])

    async def main():
        async with streamable_http_client(url) as (read, write):
            await check_with_official_client(read, write, schemas, expected)

    try:
        anyio.run(main)
    finally:
        out, err = stop_http(proc, watchdog, sig)
    assert proc.returncode == 0, err
    assert "shutting down" in out


@pytest.mark.slow
def test_round_trip_served_by_turngym_consumed_by_mcp_tools():
    schemas, expected = expected_from_env()
    before = live_children()
    with MCPClient(SERVE_COMMAND) as client:
        remote = {t.name: t for t in client.tools(prefix="remote_")}
        assert {n.removeprefix("remote_"): t.parameters for n, t in remote.items()} == schemas
        for name, arguments, ok, output in expected[:3]:  # a result, a tool that raised, a result
            result = remote["remote_" + name].run(arguments)
            assert (result.ok, result.output) == (ok, output)
            assert result.error_kind == (None if ok else "raised")  # the server names the kind in _meta
        bad = remote["remote_calculator"].run({"expression": 5})  # caught by the schema before the call
        assert (bad.error_kind, bad.output) == (
            "arguments",
            "invalid arguments for remote_calculator: expression: 5 is not of type 'string'",
        )
    assert live_children() - before == set()
