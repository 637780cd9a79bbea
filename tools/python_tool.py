"""The ``python`` tool: the model's code runs in a sandbox (``local`` or ``docker``) and comes back as text."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from turngym.tools.core import Tool, ToolError
from turngym.tools.sandbox.base import Limits, RunResult, Sandbox, SandboxError, make_sandbox

MIN_OUTPUT_CHARS = 200
NO_OUTPUT = "(no output)"


class PythonTool(Tool):
    """Runs Python 3 code in a sandbox; stdout, stderr and a non-zero exit status go back to the model as text.

    The sandbox is built on the first call and reused; calls are independent (a fresh interpreter and an empty work
    dir each time). A timeout or a sandbox failure is a tool error of kind ``"timeout"`` or ``"sandbox"`` (a sandbox
    that cannot be built at all ends the episode); a crash, a non-zero exit, running out of memory or printing too
    much are ordinary results the model reads. Pickles as its sandbox kind, options and limits, never the live
    sandbox, so it travels to process workers; a forked copy builds its own sandbox.

    >>> tool = PythonTool("local", limits=Limits(wall_seconds=5))
    >>> tool.run({"code": "print(6 * 7)"}).output
    '42'
    >>> print(tool.run({"code": "import sys; print('half'); sys.exit('failed')"}).output)
    stdout:
    half
    stderr:
    failed
    exit status: 1
    >>> tool.close()
    """

    def __init__(
        self,
        sandbox: str | Sandbox = "local",
        *,
        limits: Limits | None = None,
        max_output_chars: int = 4000,
        name: str = "python",
        sandbox_options: Mapping[str, Any] | None = None,
    ):
        if not isinstance(sandbox, (str, Sandbox)):
            raise TypeError(f"sandbox: expected a kind ('local', 'docker') or a Sandbox, got {type(sandbox).__name__}")
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits: expected a Limits or None, got {type(limits).__name__}")
        if isinstance(max_output_chars, bool) or not isinstance(max_output_chars, int) or max_output_chars < MIN_OUTPUT_CHARS:
            raise ValueError(f"max_output_chars: expected an integer >= {MIN_OUTPUT_CHARS}, got {max_output_chars!r}")
        self._given = sandbox if isinstance(sandbox, Sandbox) else None
        self.sandbox_kind = sandbox.kind if isinstance(sandbox, Sandbox) else sandbox
        self.sandbox_options = dict(sandbox_options or {})
        self.limits = limits or (sandbox.limits if isinstance(sandbox, Sandbox) else Limits())
        self.max_output_chars = max_output_chars
        self._sandbox: Sandbox | None = self._given
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._inherited: list[Sandbox | None] = []
        super().__init__(self.python, name=name, description=_description(self.limits))

    def python(self, code: str) -> str:
        """Run Python 3 code in a sandbox and return what it printed.

        Args:
            code: A complete Python 3 program. Print every value you want to see; the output, any error and the exit
                status come back.
        """
        sandbox = self.sandbox
        try:
            result = sandbox.run(code, limits=self.limits)
        except (SandboxError, OSError) as exc:
            raise ToolError(f"{self.name}: the sandbox failed: {exc}", kind="sandbox") from None
        if result.error == "timeout":
            raise ToolError(self._with_output(f"{self.name} {result.message}", result), kind="timeout")
        if result.error == "sandbox":
            raise ToolError(f"{self.name}: the sandbox failed: {result.message}", kind="sandbox")
        return self.format_result(result)

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox, built on first use (and again in a forked child, which must not share a parent's)."""
        if self._pid != os.getpid():  # a forked child: the parent's sandbox stays the parent's, never closed here
            self._inherited.append(self._sandbox)
            self._pid, self._lock = os.getpid(), threading.Lock()
            self._sandbox = self._given
        with self._lock:
            if self._sandbox is None:
                try:
                    self._sandbox = make_sandbox(self.sandbox_kind, limits=self.limits, **self.sandbox_options)
                except SandboxError as exc:
                    message = f"{self.name}: no {self.sandbox_kind} sandbox: {exc}"
                    raise ToolError(message, kind="sandbox", fatal=True) from None
            return self._sandbox

    def format_result(self, result: RunResult) -> str:
        """The text the model sees: stdout alone when the code printed only that and exited 0, else labelled parts."""
        notes = []
        if result.error in ("memory", "output", "killed"):
            notes.append(f"[{result.message}]")
        if result.truncated:
            notes.append(f"[output truncated to the first {self.limits.output_bytes} bytes of each stream]")
        if not result.stderr and result.exit_code == 0 and not notes:
            text = result.stdout.rstrip() or NO_OUTPUT
        else:
            parts = [f"stdout:\n{result.stdout.rstrip()}"] if result.stdout.strip() else []
            parts += [f"stderr:\n{result.stderr.rstrip()}"] if result.stderr.strip() else []
            if result.exit_code is None:
                parts.append("exit status: none (stopped)")
            elif result.exit_code != 0 or not parts:
                parts.append(f"exit status: {result.exit_code}")
            text = "\n".join(parts + notes)
        return self._cut(text)

    def _with_output(self, message: str, result: RunResult) -> str:
        printed = "\n".join(part.rstrip() for part in (result.stdout, result.stderr) if part.strip())
        return self._cut(f"{message}; output before it stopped:\n{printed}" if printed else message)

    def _cut(self, text: str) -> str:
        """Keep the head and the tail (where tracebacks end) within ``max_output_chars``, marking the cut."""
        if len(text) <= self.max_output_chars:
            return text
        marker = f"\n... [{{}} characters cut; the output was {len(text)} characters] ...\n"
        room = self.max_output_chars - len(marker.format(len(text)))
        head = room // 2
        tail = room - head
        return text[:head] + marker.format(len(text) - head - tail) + text[-tail:]

    def close(self) -> None:
        """Close the sandbox (a later call builds a new one)."""
        with self._lock:
            sandbox, self._sandbox = self._sandbox, None
            self._given = None
        if sandbox is not None:
            sandbox.close()

    def __reduce__(self) -> tuple[Any, ...]:
        options = {"limits": self.limits, "max_output_chars": self.max_output_chars, "name": self.name}
        return (_rebuild, (self.sandbox_kind, options, self.sandbox_options))

    def __repr__(self) -> str:
        return f"PythonTool({self.sandbox_kind!r}, limits={self.limits})"


def _rebuild(kind: str, options: dict[str, Any], sandbox_options: dict[str, Any]) -> PythonTool:
    return PythonTool(kind, sandbox_options=sandbox_options, **options)


def _description(limits: Limits) -> str:
    return (
        "Run Python 3 code in a sandbox and return what it printed. Each call starts a fresh interpreter in an empty "
        "folder: variables, imports and files do not carry over, so include everything the code needs and print the "
        f"values you want to see. No network. Each run may use {limits.cpu_seconds:g} s of CPU, "
        f"{limits.wall_seconds:g} s in all and {limits.memory_mb} MB of memory."
    )
