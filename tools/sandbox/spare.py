"""A sandboxed launcher started ahead of its call (``Spare``): bwrap and the interpreter start while nothing waits
for them, then the launcher blocks reading its code. A call writes the files and the code, reads capped output,
enforces the wall clock, and kills everything the process started. Each spare serves exactly one call."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from turngym.tools.sandbox.base import Limits
from turngym.tools.sandbox.process import OUTPUT_KILL_BYTES, Outcome, exited, kill_uid, parent_pid, runner_command

KILL_WAIT_S = 5.0  # how long bubblewrap may take to empty a killed sandbox's pid namespace
LINGER_S = 0.1  # after the main process exits, how long to wait for leftovers that still hold its pipes
CHUNK = 65_536

Wrapper = Callable[[Path, int, Limits], list[str]]
"""bubblewrap's command line for (work dir, info fd, limits)."""


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


@dataclass(frozen=True)
class Identity:
    """Who the call runs as on the host: ``uid`` None for the caller; ``setpriv`` switches to it without forking the
    caller the slow way (``Popen(user=...)`` cannot use vfork)."""

    uid: int | None = None
    setpriv: str | None = None

    def prefix(self) -> list[str]:
        if self.uid is None or self.setpriv is None:
            return []
        return [self.setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--no-new-privs"]

    def popen_kwargs(self) -> dict[str, object]:
        if self.uid is None or self.setpriv is not None:
            return {}
        return {"user": self.uid, "group": self.uid, "extra_groups": []}


class Spare:
    """One launcher, started now, that runs one call later (or is discarded)."""

    def __init__(self, python: str, limits: Limits, identity: Identity, env: dict[str, str], wrapper: Wrapper | None):
        self.limits, self.identity, self.bubblewrap = limits, identity, wrapper is not None
        self.owner = os.getpid()
        self.root = Path(tempfile.mkdtemp(prefix="turngym-sandbox-"))
        self.work = self.root / "work"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_error = ""
        self._done = False
        pipes = [os.pipe() for _ in range(4)]
        (code_r, self.code_w), (status_r, status_w), (self.info_r, info_w), (stdin_r, self.stdin_w) = pipes
        self.status_r = status_r
        os.set_blocking(self.info_r, False)
        try:
            os.chmod(self.root, 0o711)
            make_dir(self.work, identity.uid)
            if wrapper is None:
                make_dir(self.root / "tmp", identity.uid)
                env = {**env, "HOME": str(self.work), "TMPDIR": str(self.root / "tmp")}
            prefix = identity.prefix() + (wrapper(self.work, info_w, limits) if wrapper is not None else [])
            argv = prefix + runner_command(python, limits, code_r, status_w)
            self.proc = subprocess.Popen(
                argv,
                stdin=stdin_r,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(code_r, status_w, info_w),
                cwd=self.work,
                env=env,
                start_new_session=True,
                **identity.popen_kwargs(),  # type: ignore[arg-type]
            )
        except OSError as exc:
            self.start_error = f"could not start {exc.filename or 'the sandbox'}: {exc}"
        finally:
            for fd in (code_r, status_w, info_w, stdin_r):
                os.close(fd)

    def alive(self) -> bool:
        return self.proc is not None and not exited(self.proc.pid)

    def write_files(self, files: list[tuple[tuple[str, ...], bytes]]) -> None:
        """Put the call's files into the work dir (the sandbox sees it bound, already there)."""
        for parts, content in files:
            for depth in range(1, len(parts)):
                make_dir(self.work.joinpath(*parts[:depth]), self.identity.uid)
            target = self.work.joinpath(*parts)
            target.write_bytes(content)
            if self.identity.uid is not None:
                os.chown(target, self.identity.uid, self.identity.uid)

    def run(self, code: str, stdin: str, started: float) -> Outcome:
        """Send the code and stdin, collect until the process ends or a limit stops it; then discard the spare."""
        try:
            if self.proc is None:
                return Outcome(-1, b"", self.start_error.encode(), False, b"", None, time.monotonic() - started, 0)
            killer = _Killer(self.proc.pid, self.info_r if self.bubblewrap else None)
            feeds = {self.code_w: code.encode("utf-8", "surrogateescape"), self.stdin_w: stdin.encode("utf-8", "surrogateescape")}
            self.code_w = self.stdin_w = -1  # _collect closes them
            deadline = time.monotonic() + self.limits.wall_seconds
            stdout, stderr, stopped = _collect(self.proc, feeds, self.limits, deadline, killer)
            killer.leftovers()
            returncode = self.proc.wait()
            if self.identity.uid is not None and not self.bubblewrap:
                kill_uid(self.identity.uid)  # leftovers that left the group (setsid); bubblewrap's pid namespace took them
            status = _read_available(self.status_r)
            truncated = stdout.seen > stdout.keep or stderr.seen > stderr.keep
            duration, base = time.monotonic() - started, 128 if self.bubblewrap else 0
            return Outcome(returncode, bytes(stdout.data), bytes(stderr.data), truncated, status, stopped, duration, base)
        finally:
            self.discard(remove_later=True)

    def discard(self, *, remove_later: bool = False) -> None:
        """Kill the launcher and everything it started, and remove its folder, now or on a thread (folder removal is
        slow on a busy disk, and nothing runs there any more). A no-op in a forked child."""
        if self._done or os.getpid() != self.owner:
            return
        self._done = True
        if self.proc is not None:
            if self.proc.returncode is None:
                _Killer(self.proc.pid, self.info_r if self.bubblewrap else None)()
                self.proc.wait()
                if self.identity.uid is not None and not self.bubblewrap:
                    kill_uid(self.identity.uid)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
        for fd in (self.code_w, self.stdin_w, self.status_r, self.info_r):
            if fd >= 0:
                os.close(fd)
        if remove_later:  # not a daemon: the interpreter waits for it at exit
            threading.Thread(target=remove_tree, args=(self.root,), name="sandbox-cleanup").start()
        else:
            remove_tree(self.root)


def check_files(files: Mapping[str, str | bytes] | None) -> list[tuple[tuple[str, ...], bytes]]:
    """Validated ``(path parts, bytes)`` of a call's files: relative paths inside the work dir, str or bytes."""
    if files is None:
        return []
    if not isinstance(files, Mapping):
        raise TypeError(f"files: expected a mapping of relative paths to str or bytes, got {type(files).__name__}")
    checked = []
    for name, content in files.items():
        parts = Path(name).parts if isinstance(name, str) else ()
        if not parts or Path(name).is_absolute() or ".." in parts:
            raise ValueError(f"files: expected relative paths inside the work dir, got {name!r}")
        if not isinstance(content, (str, bytes)):
            raise TypeError(f"files[{name!r}]: expected str or bytes, got {type(content).__name__}")
        checked.append((parts, content.encode("utf-8") if isinstance(content, str) else content))
    return checked


def make_dir(path: Path, uid: int | None) -> None:
    path.mkdir(mode=0o755, exist_ok=True)
    if uid is not None:
        os.chown(path, uid, uid)


def remove_tree(root: Path) -> None:
    """Remove a call's folder, also where the code took its own permissions away."""

    def make_writable(_function: object, path: str, _exc: object) -> None:
        for target in (os.path.dirname(path), path):
            with contextlib.suppress(OSError):
                os.chmod(target, 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)

    shutil.rmtree(root, onerror=make_writable)


def _kill_child(pid: int, parent: int) -> bool:
    """SIGKILL ``pid`` only while it is still ``parent``'s child. The sandbox's init is bwrap's child, not ours: once
    it has died and bwrap reaped it, its pid may already belong to another process (another call's bwrap, say)."""
    try:
        pidfd = os.pidfd_open(pid)  # from here on the signal can only reach this very process
    except OSError:
        return False
    try:
        if parent_pid(pid) != parent:
            return False
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return True
    except OSError:
        return False
    finally:
        os.close(pidfd)


class _Killer:
    """Ends a call and everything it started. Under bubblewrap: SIGKILL the sandbox's init, so the kernel empties its
    pid namespace, and bwrap exits only once that is done. Else: the process group."""

    def __init__(self, pid: int, info_fd: int | None):
        self.pid, self.info_fd = pid, info_fd
        self._info = b""

    def __call__(self) -> None:
        init_pid = self._sandbox_init()
        if init_pid is not None and _kill_child(init_pid, self.pid) and _wait_exit(self.pid, KILL_WAIT_S):
            return
        self.leftovers()

    def leftovers(self) -> None:
        """SIGKILL the process group (its leader is not reaped yet, so the id is still ours)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _sandbox_init(self) -> int | None:
        """The host pid of the sandbox's init, from bwrap's info fd (None until bwrap has written it)."""
        if self.info_fd is None:
            return None
        with contextlib.suppress(BlockingIOError):
            self._info += os.read(self.info_fd, 4096)
        match = re.search(rb'"child-pid":\s*(\d+)', self._info)
        return int(match.group(1)) if match else None


def _collect(
    proc: subprocess.Popen[bytes], feeds: dict[int, bytes], limits: Limits, deadline: float, kill: Callable[[], None]
) -> tuple[_Capped, _Capped, str | None]:
    """Write each of ``feeds`` (code, stdin) to its pipe and close it, and read stdout and stderr, until both close and
    the process exits, the wall clock runs out, or output overflows."""
    assert proc.stdout is not None and proc.stderr is not None
    streams = {proc.stdout.fileno(): _Capped(limits.output_bytes), proc.stderr.fileno(): _Capped(limits.output_bytes)}
    kill_at = max(OUTPUT_KILL_BYTES, 2 * limits.output_bytes)
    selector = selectors.DefaultSelector()
    for fd in streams:
        selector.register(fd, selectors.EVENT_READ)
    pending = {fd: memoryview(data) for fd, data in feeds.items()}
    for fd in list(pending):
        os.set_blocking(fd, False)
        _feed(selector, pending, fd, registered=False)
    pidfd = _pidfd(proc.pid)  # readable once the process exits; without one, poll
    if pidfd is not None:
        selector.register(pidfd, selectors.EVENT_READ)
    open_streams = set(streams)
    exited_at: float | None = None
    stopped: str | None = None
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and exited(proc.pid):
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
                elif key.fd in pending:
                    _feed(selector, pending, key.fd, registered=True)
                else:
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
        for fd in pending:  # what the process never took
            os.close(fd)
        selector.close()
        if pidfd is not None:
            os.close(pidfd)
    out, err = streams.values()
    return out, err, stopped


def _feed(selector: selectors.BaseSelector, pending: dict[int, memoryview], fd: int, *, registered: bool) -> None:
    """Write what the pipe takes now; close it once all is written or its reader is gone, else wait for room."""
    data = pending[fd]
    try:
        while data:
            data = data[os.write(fd, data[:CHUNK]) :]
    except BlockingIOError:
        pass
    except BrokenPipeError:
        data = data[len(data) :]
    if data:
        pending[fd] = data
        if not registered:
            selector.register(fd, selectors.EVENT_WRITE)
        return
    del pending[fd]
    if registered:
        selector.unregister(fd)
    os.close(fd)


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


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for the process to exit, without reaping it."""
    end = time.monotonic() + timeout
    delay = 0.001
    while not exited(pid):
        if time.monotonic() >= end:
            return False
        time.sleep(delay)
        delay = min(2 * delay, 0.02)
    return True


def _read_available(fd: int) -> bytes:
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
