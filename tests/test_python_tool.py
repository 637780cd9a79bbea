"""The python tool: its schema, what the model reads, tool errors at the timeout and sandbox boundaries, pickling,
forking, threads."""

from __future__ import annotations

import doctest
import os
import pickle
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from sandbox_backends import join_background_threads

import turngym.tools.python_tool as python_tool_module
from turngym.tools.core import Tool, ToolResult
from turngym.tools.python_tool import PythonTool
from turngym.tools.sandbox import Limits, LocalSandbox


@pytest.fixture(scope="module")
def tool():
    tool = PythonTool("local", limits=Limits(wall_seconds=2, cpu_seconds=1.5))
    yield tool
    tool.close()


def test_schema_has_one_code_argument_and_states_the_limits(tool):
    function = tool.schema["function"]
    assert isinstance(tool, Tool) and function["name"] == "python"
    assert function["parameters"]["required"] == ["code"]
    assert list(function["parameters"]["properties"]) == ["code"]
    assert function["parameters"]["properties"]["code"]["type"] == "string"
    assert "1.5 s of CPU, 2 s in all and 512 MB" in function["description"]
    assert tool.run({"code": 1}).error_kind == "arguments"


def test_plain_output_comes_back_alone(tool):
    assert tool.run({"code": "print('hello')\nprint(2 + 3)"}) == ToolResult(True, "hello\n5")
    assert tool.run({"code": "x = 1"}).output == "(no output)"


def test_errors_and_exit_status_are_results_not_tool_errors(tool):
    result = tool.run({"code": "print('before')\nraise ValueError('bad value')"})
    assert result.ok
    assert result.output.startswith("stdout:\nbefore\nstderr:\nTraceback (most recent call last):")
    assert result.output.endswith("ValueError: bad value\nexit status: 1")
    assert tool.run({"code": "import sys; sys.exit(4)"}).output == "exit status: 4"


def test_timeout_is_a_tool_error_with_the_output_so_far(tool):
    result = tool.run({"code": "import time\nprint('started', flush=True)\ntime.sleep(60)"})
    assert (result.ok, result.error_kind, result.fatal) == (False, "timeout", False)
    assert result.output == "python timed out after 2 s wall clock; output before it stopped:\nstarted"


def test_cpu_timeout_is_a_tool_error():
    tool = PythonTool(limits=Limits(cpu_seconds=0.5))
    result = tool.run({"code": "while True:\n    pass"})
    assert (result.ok, result.error_kind, result.output) == (False, "timeout", "python timed out after 0.5 s of CPU time")


def test_memory_and_huge_output_are_results_with_a_note(tool):
    memory = tool.run({"code": "data = b'x' * 2**30"})
    assert memory.ok and memory.output.endswith("exit status: 1\n[ran out of memory (limit 512 MB)]")
    flood = tool.run({"code": "print('y' * 100_000)"})
    assert flood.ok and "[output truncated to the first 65536 bytes of each stream]" in flood.output


def test_long_output_keeps_head_and_tail_within_the_budget():
    tool = PythonTool(max_output_chars=500)
    result = tool.run({"code": "for i in range(1000):\n    print(f'line {i}')\nraise RuntimeError('the end')"})
    assert result.ok and len(result.output) <= 500
    assert result.output.startswith("stdout:\nline 0\nline 1")
    assert result.output.endswith("RuntimeError: the end\nexit status: 1")
    assert "characters cut; the output was" in result.output


def test_unbuildable_sandbox_is_a_fatal_sandbox_error():
    tool = PythonTool("local", sandbox_options={"python": "/nonexistent/python3"})
    result = tool.run({"code": "print(1)"})
    assert (result.ok, result.error_kind, result.fatal) == (False, "sandbox", True)
    assert result.output.startswith("python: no local sandbox: python: expected '/nonexistent/python3'")


def test_sandbox_failing_mid_episode_is_a_sandbox_error():
    folder = Path(tempfile.mkdtemp(prefix="turngym-python-"))
    folder.chmod(0o755)
    link = folder / "python3"
    link.symlink_to(os.path.realpath("/usr/bin/python3"))
    try:
        tool = PythonTool(LocalSandbox(python=str(link), isolation="rlimits", spares=0))
        assert tool.run({"code": "print(1)"}).output == "1"
        link.unlink()  # the interpreter disappears between two calls
        result = tool.run({"code": "print(1)"})
        assert (result.ok, result.error_kind, result.fatal) == (False, "sandbox", False)
        assert result.output.startswith("python: the sandbox failed: the sandbox could not start the code")
    finally:
        shutil.rmtree(folder)


def test_a_given_sandbox_is_used_and_closed():
    sandbox = LocalSandbox(isolation="rlimits", limits=Limits(wall_seconds=3))
    tool = PythonTool(sandbox)
    assert tool.sandbox is sandbox and tool.limits == sandbox.limits and tool.sandbox_kind == "local"
    assert tool.run({"code": "print('given')"}).output == "given"
    tool.close()
    assert tool.run({"code": "print('rebuilt')"}).output == "rebuilt" and tool.sandbox is not sandbox


def test_pickles_without_the_live_sandbox(tool):
    tool.run({"code": "print(1)"})
    copy = pickle.loads(pickle.dumps(tool))
    assert (copy.name, copy.limits, copy.max_output_chars, copy.sandbox_kind) == ("python", tool.limits, 4000, "local")
    assert copy._sandbox is None
    assert copy.run({"code": "print('from a copy')"}).output == "from a copy"
    renamed = pickle.loads(
        pickle.dumps(PythonTool(name="run_code", max_output_chars=300, sandbox_options={"isolation": "rlimits"}))
    )
    assert (renamed.name, renamed.max_output_chars, renamed.sandbox.isolation["method"]) == ("run_code", 300, "rlimits-only")


def test_a_forked_child_uses_the_tool(tool):
    tool.run({"code": "print(1)"})
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, tool.run({"code": "print('child')"}).output.encode())
            tool.close()
            join_background_threads()
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        assert pipe.read() == b"child"
    os.waitpid(pid, 0)
    assert tool.run({"code": "print('parent')"}).output == "parent"


def test_threads_share_one_tool(tool):
    outputs: dict[int, str] = {}

    def call(i: int) -> None:
        outputs[i] = tool.run({"code": f"print({i} ** 2)"}).output

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outputs == {i: str(i**2) for i in range(8)}


def test_argument_errors():
    with pytest.raises(TypeError, match="sandbox: expected a kind"):
        PythonTool(3)
    with pytest.raises(ValueError, match="max_output_chars: expected an integer >= 200, got 10"):
        PythonTool(max_output_chars=10)
    with pytest.raises(TypeError, match="limits: expected a Limits or None, got dict"):
        PythonTool(limits={})


@pytest.mark.docker
def test_docker_backend_runs_code():
    tool = PythonTool("docker", limits=Limits(wall_seconds=10))
    try:
        assert tool.run({"code": "print(6 * 7)"}).output == "42"
        assert tool.run({"code": "import time; time.sleep(60)"}).error_kind == "timeout"
    finally:
        tool.close()


def test_doctests():
    result = doctest.testmod(python_tool_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
