"""What every backend shares about one sandboxed process: the launcher's command line, what the host saw of it
(``Outcome``), the verdict (``classify`` names ``RunResult.error``), and killing what a call left behind."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from turngym.tools.sandbox.base import ErrorKind, Limits, RunResult

RUNNER_SOURCE = (Path(__file__).with_name("runner.py")).read_text(encoding="utf-8")
OPEN_FILES = 1024  # RLIMIT_NOFILE inside the sandbox
OUTPUT_KILL_BYTES = 16 * 2**20  # stdout + stderr beyond this (or 2 x output_bytes, the larger) stops the call


@dataclass
class Outcome:
    """What the host saw of one process; ``classify`` turns it into a ``RunResult``."""

    returncode: int
    stdout: bytes
    stderr: bytes
    truncated: bool
    status: bytes  # what the launcher reported on its status pipe
    stopped: str | None  # "wall" or "output" when the host killed the call
    duration_s: float
    signal_base: int  # exit status = signal_base + signal number for a killed child (bubblewrap: 128); 0: negative codes


def runner_command(python: str, limits: Limits, code_fd: int, status_fd: int) -> list[str]:
    """``python3 -I -S -B -c <launcher> ...``: isolated mode (no env vars, no user site), no ``site`` at start (the
    launcher adds its folders), no bytecode files."""
    numbers = (limits.cpu_seconds, limits.memory_mb * 2**20, limits.processes, limits.file_size_mb * 2**20, OPEN_FILES)
    return [python, "-I", "-S", "-B", "-c", RUNNER_SOURCE, str(code_fd), str(status_fd), *map(str, numbers)]


def exited(pid: int) -> bool:
    """Whether the process has exited, without reaping it (its pid and process group stay reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def kill_uid(uid: int, *, rounds: int = 20) -> None:
    """SIGKILL every live process whose real uid is ``uid`` (a call's own uid when running as root without bubblewrap).
    Reads each process's status (a /proc folder's owner hides non-dumpable processes) and repeats while it finds any,
    so that children forked meanwhile go too."""
    for _ in range(rounds):
        found = False
        for pid in os.listdir("/proc"):
            try:
                if pid.isdigit() and _live_real_uid(pid) == uid:
                    found = True
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError, KeyError):
                continue
        if not found:
            return
        time.sleep(0.001)


def parent_pid(pid: int) -> int | None:
    """The parent's pid from ``/proc/<pid>/status``; None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            return next((int(line.split()[1]) for line in status if line.startswith(b"PPid:")), None)
    except OSError:
        return None


def _live_real_uid(pid: str) -> int | None:
    with open(f"/proc/{pid}/status", "rb") as status:
        fields = dict(line.split(b":", 1) for line in status if line.startswith((b"State:", b"Uid:")))
    return None if fields[b"State"].strip().startswith(b"Z") else int(fields[b"Uid"].split()[0])


def classify(outcome: Outcome, limits: Limits) -> RunResult:
    """Name what happened: ran to completion (error None), or timeout / memory / output / killed / sandbox."""
    stdout = outcome.stdout.decode("utf-8", errors="replace")
    stderr = outcome.stderr.decode("utf-8", errors="replace")
    error: ErrorKind | None = None
    exit_code: int | None = outcome.returncode
    message = ""
    signal_number = _signal_of(outcome)
    if outcome.stopped == "wall":
        error, exit_code, message = "timeout", None, f"timed out after {limits.wall_seconds:g} s wall clock"
    elif outcome.stopped == "output":
        cap = max(OUTPUT_KILL_BYTES, 2 * limits.output_bytes)
        error, exit_code, message = "output", None, f"stopped after writing more than {cap} bytes of output"
    elif b"R" not in outcome.status:
        detail = stderr.strip()[-500:] or f"exit status {outcome.returncode}"
        error, exit_code, message = "sandbox", None, f"the sandbox could not start the code: {detail}"
    elif b"M" in outcome.status:
        error, message = "memory", f"ran out of memory (limit {limits.memory_mb} MB)"
    elif signal_number in (signal.SIGXCPU, signal.SIGPROF):
        error, exit_code, message = "timeout", None, f"timed out after {limits.cpu_seconds:g} s of CPU time"
    elif signal_number is not None:
        error, exit_code, message = "killed", None, f"killed by {signal.Signals(signal_number).name}"
    return RunResult(stdout, stderr, exit_code, outcome.duration_s, error, outcome.truncated, message)


def _signal_of(outcome: Outcome) -> int | None:
    """The signal that ended the launcher, or None when it exited by itself."""
    if b"D" in outcome.status:
        return None
    code = outcome.returncode
    # negative: the launcher itself (bwrap, say) was killed; signal_base + n: it reports its child killed by signal n
    number = -code if code < 0 else code - outcome.signal_base if 0 < outcome.signal_base < code else 0
    try:
        return signal.Signals(number).value
    except ValueError:
        return None
