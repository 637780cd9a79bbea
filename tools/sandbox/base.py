"""The sandbox interface: limits, the result of one run, the ``Sandbox`` base class and ``make_sandbox``."""

from __future__ import annotations

import abc
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

ErrorKind = Literal["timeout", "memory", "output", "killed", "sandbox"]
SANDBOX_KINDS = ("local", "docker")


class SandboxError(Exception):
    """The sandbox itself cannot work (no dockerd, no python, a broken launcher); raised with a clear message."""


_MINIMUMS = {"cpu_seconds": 0.01, "wall_seconds": 0.01, "memory_mb": 16, "processes": 1, "file_size_mb": 0, "output_bytes": 0}


@dataclass(frozen=True)
class Limits:
    """Resource limits for one call.

    >>> Limits(wall_seconds=2).cpu_seconds
    5.0
    >>> Limits(memory_mb=0)
    Traceback (most recent call last):
    ...
    ValueError: Limits.memory_mb: expected an integer >= 16, got 0
    """

    cpu_seconds: float = 5.0
    """CPU time per call."""
    wall_seconds: float = 10.0
    """Wall clock per call; the whole process group is killed when it runs out."""
    memory_mb: int = 512
    """Address space (local) or container memory (docker), in MiB."""
    processes: int = 64
    """Most processes and threads at once (RLIMIT_NPROC, or the container's pids limit)."""
    file_size_mb: int = 16
    """Largest file a call may write, in MiB."""
    output_bytes: int = 65_536
    """Bytes of stdout and of stderr each kept; the rest is dropped and the result marked truncated."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            wants_int = field.type in (int, "int")
            kind = "an integer" if wants_int else "a number"
            ok_type = isinstance(value, int) if wants_int else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok_type:
                raise TypeError(f"Limits.{field.name}: expected {kind}, got {type(value).__name__} {value!r}")
            if not value >= _MINIMUMS[field.name] or value != value or value == float("inf"):
                raise ValueError(f"Limits.{field.name}: expected {kind} >= {_MINIMUMS[field.name]}, got {value!r}")

    def replace(self, **changes: Any) -> Limits:
        """A copy with some limits changed (validated like the original)."""
        return Limits(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})


@dataclass(frozen=True)
class RunResult:
    """What one run produced. ``error`` is None when the code ran to completion, whatever its exit code."""

    stdout: str
    stderr: str
    exit_code: int | None
    """The process's exit status; None when it did not exit by itself (killed on a limit or a signal)."""
    duration_s: float
    error: ErrorKind | None = None
    truncated: bool = False
    """True when stdout or stderr went over ``Limits.output_bytes`` and the rest was dropped."""
    message: str = ""
    """Why, in words, when ``error`` is set ("timed out after 2.0 s wall clock", ...)."""

    @property
    def ok(self) -> bool:
        """Ran to completion and exited with status 0."""
        return self.error is None and self.exit_code == 0


class Sandbox(abc.ABC):
    """Runs untrusted Python source, one independent call at a time, in a fresh empty work dir."""

    kind: ClassVar[str]
    limits: Limits

    @property
    @abc.abstractmethod
    def isolation(self) -> dict[str, str]:
        """What is in force: ``network`` ("none", "loopback-only" or "host"), ``filesystem``, ``user``, ``method``."""

    @abc.abstractmethod
    def run(
        self,
        code: str,
        *,
        stdin: str = "",
        files: Mapping[str, str | bytes] | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        """Run ``code`` with python3 in a fresh, empty work dir (the cwd) holding ``files``; each call is independent."""

    def _call_limits(self, code: str, stdin: str, limits: Limits | None) -> Limits:
        """Check ``run``'s arguments; return the limits of the call (``limits`` or the sandbox's own)."""
        if not isinstance(code, str):
            raise TypeError(f"code: expected str, got {type(code).__name__}")
        if not isinstance(stdin, str):
            raise TypeError(f"stdin: expected str, got {type(stdin).__name__}")
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits: expected a Limits or None, got {type(limits).__name__}")
        return limits or self.limits

    def close(self) -> None:
        """Release what the sandbox holds (containers, temp dirs); calling it twice is fine."""
        return None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def make_sandbox(kind: str = "local", **kwargs: Any) -> Sandbox:
    """Build a sandbox by kind: "local" (subprocess, bubblewrap when it works) or "docker".

    >>> make_sandbox("vm")
    Traceback (most recent call last):
    ...
    ValueError: sandbox kind: expected one of 'local', 'docker', got 'vm'
    """
    if kind == "local":
        from turngym.tools.sandbox.local import LocalSandbox

        return LocalSandbox(**kwargs)
    if kind == "docker":
        module = importlib.import_module("turngym.tools.sandbox.docker")
        return module.DockerSandbox(**kwargs)
    choices = ", ".join(repr(k) for k in SANDBOX_KINDS)
    raise ValueError(f"sandbox kind: expected one of {choices}, got {kind!r}")
