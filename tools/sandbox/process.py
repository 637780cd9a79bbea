"""One sandboxed process from start to verdict: spawn the launcher, feed it code and stdin, read capped output,
enforce the wall clock, kill leftovers, and name what happened (``RunResult.error``)."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from turngym.tools.sandbox.base import ErrorKind, Limits, RunResult

RUNNER_SOURCE = (Path(__file__).with_name("runner.py")).read_text(encoding="utf-8")
OPEN_FILES = 1024  # RLIMIT_NOFILE inside the sandbox
OUTPUT_KILL_BYTES = 16 * 2**20  # stdout + stderr beyond this (or 2 x output_bytes, the larger) stops the call
KILL_WAIT_S = 5.0  # how long bubblewrap may take to empty a killed sandbox's pid namespace
LINGER_S = 0.1  # after the main process exits, how long to wait for leftovers that still hold its pipes
CHUNK = 65_536


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


@dataclass
class _Capped:
    keep: int
    data: bytearray = field(default_factory=bytearray)
    seen: int = 0

    def add(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        room = self.keep - len(self.data)
        if room > 0:
            self.data += chunk[:room]


def runner_command(python: str, limits: Limits, code_fd: int, status_fd: int) -> list[str]:
    """``python3 -I -B -c <launcher> ...``: isolated mode (no env vars, no user site), no bytecode files."""
    numbers = (limits.cpu_seconds, limits.memory_mb * 2**20, limits.processes, limits.file_size_mb * 2**20, OPEN_FILES)
    return [python, "-I", "-B", "-c", RUNNER_SOURCE, str(code_fd), str(status_fd), *map(str, numbers)]


def run_process(
    python: str,
    *,
    wrapper: Callable[[int], list[str]] | None,
    code: str,
    stdin: str,
    cwd: str,
    env: dict[str, str],
    uid: int | None,
    limits: Limits,
) -> Outcome:
    """Run the launcher and collect everything it does. ``wrapper(info_fd)`` is bubblewrap's command line (it writes
    the sandbox's init pid to ``info_fd``); None runs the launcher directly."""
    status_read, status_write = os.pipe()
    info_read, info_write = os.pipe()
    os.set_blocking(info_read, False)
    try:
        with tempfile.TemporaryFile() as code_file, tempfile.TemporaryFile() as stdin_file:
            code_file.write(code.encode("utf-8", errors="surrogateescape"))
            code_file.seek(0)
            stdin_file.write(stdin.encode("utf-8", errors="surrogateescape"))
            stdin_file.seek(0)
            prefix = wrapper(info_write) if wrapper is not None else []
            argv = prefix + runner_command(python, limits, code_file.fileno(), status_write)
            identity = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
            started = time.monotonic()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=stdin_file,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    pass_fds=(code_file.fileno(), status_write, info_write),
                    cwd=cwd,
                    env=env,
                    start_new_session=True,
                    **identity,
                )
            except OSError as exc:
                message = f"could not start {argv[0]}: {exc}".encode()
                return Outcome(-1, b"", message, False, b"", None, time.monotonic() - started, 0)
            finally:
                os.close(status_write)
                os.close(info_write)
        try:
            kill = _Killer(proc.pid, info_read if wrapper is not None else None, uid if wrapper is None else None)
            stdout, stderr, stopped = _collect(proc, limits, started + limits.wall_seconds, kill)
            kill.leftovers()
            returncode = proc.wait()
            kill.by_uid()
            duration = time.monotonic() - started
            status = _read_all(status_read)
        finally:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    finally:
        os.close(status_read)
        os.close(info_read)
    truncated = stdout.seen > stdout.keep or stderr.seen > stderr.keep
    base = 128 if wrapper is not None else 0
    return Outcome(returncode, bytes(stdout.data), bytes(stderr.data), truncated, status, stopped, duration, base)


class _Killer:
    """Ends a call and everything it started. Under bubblewrap: SIGKILL the sandbox's init, so the kernel empties its
    pid namespace, and bwrap exits only once that is done. Else: the process group, then (as root) the call's uid."""

    def __init__(self, pid: int, info_fd: int | None, uid: int | None):
        self.pid, self.info_fd, self.uid = pid, info_fd, uid
        self._info = b""

    def __call__(self) -> None:
        init_pid = self._sandbox_init()
        if init_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(init_pid, signal.SIGKILL)
            if _wait_exit(self.pid, KILL_WAIT_S):
                return
        self.leftovers()

    def leftovers(self) -> None:
        """SIGKILL the process group (its leader is not reaped yet, so the id is still ours)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def by_uid(self) -> None:
        """Leftovers that left the group (setsid) when the call ran as a uid of its own without bubblewrap."""
        if self.uid is not None:
            kill_uid(self.uid)

    def _sandbox_init(self) -> int | None:
        """The host pid of the sandbox's init, from bwrap's info fd (None until bwrap has written it)."""
        if self.info_fd is None:
            return None
        with contextlib.suppress(BlockingIOError):
            self._info += os.read(self.info_fd, 4096)
        match = re.search(rb'"child-pid":\s*(\d+)', self._info)
        return int(match.group(1)) if match else None


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for the process to exit, without reaping it."""
    end = time.monotonic() + timeout
    delay = 0.001
    while not _exited(pid):
        if time.monotonic() >= end:
            return False
        time.sleep(delay)
        delay = min(2 * delay, 0.02)
    return True


def _collect(
    proc: subprocess.Popen[bytes], limits: Limits, deadline: float, kill: Callable[[], None]
) -> tuple[_Capped, _Capped, str | None]:
    """Read stdout and stderr until both close and the process exits, the wall clock runs out, or output overflows."""
    assert proc.stdout is not None and proc.stderr is not None
    streams = {proc.stdout.fileno(): _Capped(limits.output_bytes), proc.stderr.fileno(): _Capped(limits.output_bytes)}
    kill_at = max(OUTPUT_KILL_BYTES, 2 * limits.output_bytes)
    selector = selectors.DefaultSelector()
    for fd in streams:
        selector.register(fd, selectors.EVENT_READ)
    pidfd = _pidfd(proc.pid)  # readable once the process exits; without one, poll
    if pidfd is not None:
        selector.register(pidfd, selectors.EVENT_READ)
    open_streams = set(streams)
    exited_at: float | None = None
    stopped: str | None = None
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and _exited(proc.pid):
                exited_at = now
            if exited_at is not None and (not open_streams or now - exited_at > LINGER_S):
                break  # done, or leftovers hold the pipes (they are killed next)
            if now >= deadline:
                stopped = "wall"
                break
            wait = deadline - now
            if exited_at is not None:
                wait = min(wait, exited_at + LINGER_S - now)
            elif pidfd is None:
                wait = min(wait, 0.01)
            for key, _ in selector.select(max(wait, 0.0)):
                if key.fd == pidfd:
                    selector.unregister(pidfd)
                    continue
                chunk = os.read(key.fd, CHUNK)
                if chunk:
                    streams[key.fd].add(chunk)
                else:
                    selector.unregister(key.fd)
                    open_streams.discard(key.fd)
            if sum(s.seen for s in streams.values()) > kill_at:
                stopped = "output"
                break
        if stopped is not None:
            kill()
            _drain(selector, streams, open_streams)
    finally:
        selector.close()
        if pidfd is not None:
            os.close(pidfd)
    out, err = streams.values()
    return out, err, stopped


def _drain(selector: selectors.BaseSelector, streams: dict[int, _Capped], open_streams: set[int], timeout: float = 0.5) -> None:
    """After a kill: read what is left in the pipes (the writers are gone, so they close soon)."""
    end = time.monotonic() + timeout
    while open_streams and time.monotonic() < end:
        for key, _ in selector.select(max(end - time.monotonic(), 0.0)):
            if key.fd not in open_streams:
                continue
            chunk = os.read(key.fd, CHUNK)
            if chunk and streams[key.fd].seen < 2 * OUTPUT_KILL_BYTES:
                streams[key.fd].add(chunk)
            else:
                selector.unregister(key.fd)
                open_streams.discard(key.fd)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None  # old kernel: poll instead


def _exited(pid: int) -> bool:
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


def _live_real_uid(pid: str) -> int | None:
    with open(f"/proc/{pid}/status", "rb") as status:
        fields = dict(line.split(b":", 1) for line in status if line.startswith((b"State:", b"Uid:")))
    return None if fields[b"State"].strip().startswith(b"Z") else int(fields[b"Uid"].split()[0])


def _read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    parts = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            break
        if not chunk:
            break
        parts.append(chunk)
    return b"".join(parts)


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
    number = (
        -code if outcome.signal_base == 0 and code < 0 else code - outcome.signal_base if 0 < outcome.signal_base < code else 0
    )
    try:
        return signal.Signals(number).value
    except ValueError:
        return None
