"""Jobs for the docker sandbox's worker: the launcher command line, the job message, and the result it comes back as."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from turngym.tools.sandbox.base import Limits, RunResult
from turngym.tools.sandbox.process import OUTPUT_KILL_BYTES, Outcome, classify, runner_command

PYTHON = "/usr/bin/python3"
PROCESS_CAP = 1 << 15
"""RLIMIT_NPROC inside containers: uid 65534 is shared by all of them, so the pids cgroup limits processes instead."""
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "USER": "sandbox",
    "LOGNAME": "sandbox",
}
PRELOAD = "import linecache, traceback\n"


def _encode_files(files: Mapping[str, str | bytes] | None) -> dict[str, str]:
    if files is None:
        return {}
    if not isinstance(files, Mapping):
        raise TypeError(f"files: expected a mapping of relative paths to str or bytes, got {type(files).__name__}")
    encoded = {}
    for name, data in files.items():
        parts = PurePosixPath(name).parts if isinstance(name, str) else ()
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
            raise ValueError(f"files: expected relative paths inside the work dir, got {name!r}")
        if not isinstance(data, (str, bytes)):
            raise TypeError(f"files[{name!r}]: expected str or bytes, got {type(data).__name__}")
        encoded[name] = base64.b64encode(data.encode() if isinstance(data, str) else data).decode()
    return encoded


def launcher_argv(limits: Limits) -> list[str]:
    """The launcher's command line inside the container: the ``local`` backend's (code on fd 3, status on fd 4).

    The launcher starts before its call arrives, so the modules it imports after reading the code
    (for tracebacks) are imported up front, off the call's clock.
    """
    argv = runner_command(PYTHON, limits.replace(processes=PROCESS_CAP), 3, 4)
    source = argv.index("-c") + 1
    if "from __future__" not in argv[source]:
        argv[source] = PRELOAD + argv[source]
    return argv


def make_job(code: str, stdin: str, files: Mapping[str, str | bytes] | None, limits: Limits) -> dict[str, Any]:
    return {
        "argv": launcher_argv(limits),
        "code": code,
        "stdin": stdin,
        "files": _encode_files(files),
        "output_bytes": limits.output_bytes,
        "kill_at": max(OUTPUT_KILL_BYTES, 2 * limits.output_bytes),
        "wall_seconds": limits.wall_seconds,
    }


def to_result(reply: dict[str, Any], limits: Limits, duration_s: float) -> RunResult:
    """The worker's raw outcome, named as the ``local`` backend names it."""
    if "failure" in reply:
        return RunResult("", "", None, duration_s, "sandbox", message=str(reply["failure"]))
    raw = reply["outcome"]
    outcome = Outcome(
        returncode=raw["returncode"],
        stdout=base64.b64decode(raw["stdout"]),
        stderr=base64.b64decode(raw["stderr"]),
        truncated=raw["truncated"],
        status=raw["status"].encode("latin-1"),
        stopped=raw["stopped"],
        duration_s=duration_s,
        signal_base=0,
    )
    return classify(outcome, limits)
