"""The worker inside each sandbox container: PID 1, it runs one job at a time in a limited child process.

Shipped into the container as ``python3 -I -S -c <this source>`` (standard library only). Messages
are length-prefixed JSON frames on stdin and stdout: a 4-byte big-endian size, then UTF-8 JSON.
The host first sends ``{"argv", "env"}``: the launcher command line for the default limits (the
``local`` backend's ``runner.py``, which sets the rlimits, reads the code from fd 3, runs it as
``__main__`` and reports on fd 4) and its environment; the worker answers ``{"ready": true}``.
Then each job ``{"argv", "code", "stdin", "files": {name: base64}, "kill_at", "wall_seconds"}``
gets ``{"outcome": {returncode, stdout, stderr (base64), truncated, status, stopped, duration_s}}``
or ``{"failure": message}``; the host names the outcome as the ``local`` backend does.

The launcher for the next job is started ahead of time (a call does not wait for an interpreter
start) in a fresh, empty dir under ``/work``, in its own session, first in line for the OOM killer.
After each job the worker, as the namespace's init, SIGKILLs every other process in the container
(double-forked strays too), reaps them, and empties ``/work``, ``/tmp``, ``/dev/shm``, POSIX and
SysV IPC before it replies, so calls stay independent; if something cannot be removed, the reply
says ``retire`` and the worker ends (the host does not reuse the container). The worker is not
dumpable, so jobs (same uid) can neither ptrace it nor read its fds, and as PID 1 it ignores
signals sent from inside the container.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import selectors
import shutil
import signal
import struct
import sys
import time

WORK = "/work"
SCRUBBED = {"/work": 0o700, "/tmp": 0o1777, "/dev/shm": None, "/dev/mqueue": None}
"""The writable places and the mode to restore on those the code owns (None: root's, it cannot change them)."""
CODE_FD, STATUS_FD = 3, 4
LINGER_S = 0.1
"""After the launcher exits, how long leftovers may still hold its pipes before they are killed."""
CHUNK = 1 << 16
PR_SET_DUMPABLE = 4
IPC_RMID = 0

_libc = ctypes.CDLL(None, use_errno=True)


def read_exact(stream, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def receive(stream) -> dict | None:
    header = read_exact(stream, 4)
    body = None if header is None else read_exact(stream, struct.unpack(">I", header)[0])
    return None if body is None else json.loads(body)


def send(stream, message: dict) -> None:
    body = json.dumps(message).encode()
    stream.write(struct.pack(">I", len(body)) + body)
    stream.flush()


def oom_kills() -> int:
    """The container's OOM-kill count (cgroup v1 or v2); -1 when not readable."""
    for path in ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"):
        with contextlib.suppress(OSError, ValueError), open(path) as handle:
            for line in handle:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    return -1


class Spare:
    """A launcher started in a fresh work dir, waiting on fd 3 for the code of the next job."""

    def __init__(self, serial: int, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.jobdir = os.path.join(WORK, f"job-{serial}")
        os.mkdir(self.jobdir, 0o700)
        env = {**env, "HOME": self.jobdir}
        in_r, self.stdin = os.pipe()
        self.stdout, out_w = os.pipe()
        self.stderr, err_w = os.pipe()
        code_r, self.code = os.pipe()
        self.status, status_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            try:
                for fd, target in ((in_r, 0), (out_w, 1), (err_w, 2), (code_r, CODE_FD), (status_w, STATUS_FD)):
                    os.dup2(fd, target)
                os.closerange(STATUS_FD + 1, 65536)
                os.chdir(self.jobdir)
                os.setsid()
                with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as handle:
                    handle.write("1000")
                os.execve(argv[0], argv, env)
            except BaseException as exc:  # noqa: BLE001 - report anything, then leave
                os.write(2, f"sandbox worker: could not start {argv[0]}: {exc}\n".encode())
            os._exit(127)
        for fd in (in_r, out_w, err_w, code_r, status_w):
            os.close(fd)

    def start(self, job: dict) -> None:
        """Write the job's files and hand the launcher its code (BrokenPipeError if it died)."""
        for name, data in job.get("files", {}).items():
            path = os.path.normpath(os.path.join(self.jobdir, name))
            if not path.startswith(self.jobdir + os.sep):
                raise ValueError(f"file name must stay inside the work dir, got {name!r}")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(base64.b64decode(data))
        code = job["code"].encode("utf-8", "surrogateescape")
        while code:
            code = code[os.write(self.code, code[:CHUNK]) :]
        os.close(self.code)

    def close(self) -> None:
        for fd in (self.stdin, self.stdout, self.stderr, self.code, self.status):
            with contextlib.suppress(OSError):
                os.close(fd)


def kill_all() -> None:
    """SIGKILL every process but this one (as PID 1 that is all of the container) and reap them."""
    while True:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        time.sleep(0.001)


def _force_empty(root: str) -> None:
    """For what the code made unreadable or unwritable: coreutils ``chmod -R`` then ``find -delete`` (no depth limit)."""
    script = 'exec </dev/null >/dev/null 2>&1; chmod -R u+rwX -- "$1"; find "$1" -mindepth 1 -delete'
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", script, "sh", root], {"PATH": "/usr/bin:/bin"})
    os.waitpid(pid, 0)


def scrub() -> bool:
    """Empty the writable places and the IPC namespace so the next job starts clean; False if something is left."""
    clean = True
    for root, mode in SCRUBBED.items():
        try:
            if mode is not None:
                os.chmod(root, mode)  # the code owns these mount points and may have changed their mode
            for name in os.listdir(root):
                path = os.path.join(root, name)
                with contextlib.suppress(Exception):  # OSError; RecursionError in a very deep tree
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        os.unlink(path)
            if os.listdir(root):
                _force_empty(root)
            clean = clean and not os.listdir(root)
        except FileNotFoundError:
            continue
        except Exception:  # noqa: BLE001 - anything unexpected: the container is not reused
            clean = False
    for kind in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{kind}") as handle:
                ids = [int(line.split()[1]) for line in handle.readlines()[1:] if line.strip()]
            for ipc_id in ids:
                if kind == "sem":
                    _libc.semctl(ipc_id, 0, IPC_RMID)
                else:
                    getattr(_libc, f"{kind}ctl")(ipc_id, IPC_RMID, None)
            with open(f"/proc/sysvipc/{kind}") as handle:
                clean = clean and len(handle.readlines()) <= 1
        except FileNotFoundError:
            continue
        except Exception:  # noqa: BLE001
            clean = False
    return clean


class Capped:
    """Keeps the first ``keep`` bytes of a stream and counts the rest."""

    def __init__(self, keep: int) -> None:
        self.keep, self.data, self.seen = keep, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        if len(self.data) < self.keep:
            self.data += chunk[: self.keep - len(self.data)]


def collect(spare: Spare, job: dict) -> dict:
    """Feed stdin, keep capped output, enforce the wall clock, then kill everything; the raw outcome."""
    streams = {spare.stdout: Capped(job["output_bytes"]), spare.stderr: Capped(job["output_bytes"])}
    selector = selectors.DefaultSelector()
    for fd in streams:
        selector.register(fd, selectors.EVENT_READ)
    try:
        exit_fd = os.pidfd_open(spare.pid)
        selector.register(exit_fd, selectors.EVENT_READ)
    except (AttributeError, OSError):  # no pidfd: poll for the exit
        exit_fd = -1
    pending = memoryview(job.get("stdin", "").encode("utf-8", "surrogateescape"))
    if pending:
        os.set_blocking(spare.stdin, False)
        selector.register(spare.stdin, selectors.EVENT_WRITE)
    else:
        os.close(spare.stdin)
    start = time.monotonic()
    deadline = start + float(job["wall_seconds"])
    status = stopped = exited_at = None
    open_streams = set(streams)
    while True:
        now = time.monotonic()
        if status is None:
            wpid, wstatus = os.waitpid(spare.pid, os.WNOHANG)
            if wpid:
                status, exited_at = wstatus, now
        if status is not None and (not open_streams or now - exited_at > LINGER_S):
            break
        if now >= deadline:
            stopped = "wall"
            break
        wait = deadline - now if status is None else min(deadline - now, exited_at + LINGER_S - now)
        for key, _ in selector.select(wait if exit_fd >= 0 or status is not None else min(wait, 0.005)):
            fd = key.fd
            if fd == exit_fd:
                selector.unregister(fd)
            elif fd == spare.stdin:
                try:
                    pending = pending[os.write(fd, pending[:CHUNK]) :]
                except BlockingIOError:
                    continue
                except BrokenPipeError:  # the code stopped reading: the rest of stdin is dropped
                    pending = pending[:0]
                if not pending:
                    selector.unregister(fd)
                    os.close(fd)
            elif chunk := os.read(fd, CHUNK):
                streams[fd].add(chunk)
            else:
                selector.unregister(fd)
                open_streams.discard(fd)
        if sum(s.seen for s in streams.values()) > job["kill_at"]:
            stopped = "output"
            break
    duration = time.monotonic() - start
    kill_all()  # the job's group, strays, and whatever still holds the pipes
    if status is None:
        with contextlib.suppress(ChildProcessError):  # else reaped by kill_all
            status = os.waitpid(spare.pid, 0)[1]
    for fd in open_streams:
        with contextlib.suppress(OSError):
            while (chunk := os.read(fd, CHUNK)) and streams[fd].seen <= 2 * job["kill_at"]:
                streams[fd].add(chunk)
    os.set_blocking(spare.status, False)
    report = b""
    with contextlib.suppress(OSError):
        report = os.read(spare.status, 4096)
    selector.close()
    if exit_fd >= 0:
        os.close(exit_fd)
    spare.close()
    if status is None:
        returncode = -signal.SIGKILL
    else:
        returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    out, err = streams.values()
    return {
        "returncode": returncode,
        "stdout": base64.b64encode(out.data).decode(),
        "stderr": base64.b64encode(err.data).decode(),
        "truncated": out.seen > out.keep or err.seen > err.keep,
        "status": report.decode("latin-1"),
        "stopped": stopped,
        "duration_s": duration,
    }


def run_job(job: dict, spare: Spare) -> dict:
    oom_before = oom_kills()
    spare.start(job)
    outcome = collect(spare, job)
    if oom_before >= 0 and oom_kills() > oom_before:  # the container's memory limit killed part of the job
        outcome["status"] += "M"
    return {"outcome": outcome}


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    once = "--once" in sys.argv
    reader, writer = sys.stdin.buffer, sys.stdout.buffer
    setup = receive(reader)
    if setup is None:
        return
    env, serial = setup["env"], 1
    spare = Spare(serial, setup["argv"], env)
    send(writer, {"ready": True})
    while (job := receive(reader)) is not None:
        try:
            if job["argv"] != spare.argv:  # other limits than the launcher was started with
                kill_all()
                spare.close()
                serial += 1
                spare = Spare(serial, job["argv"], env)
            try:
                reply = run_job(job, spare)
            except BrokenPipeError:  # the launcher died before its job: one more try with a new one
                kill_all()
                spare.close()
                serial += 1
                spare = Spare(serial, job["argv"], env)
                reply = run_job(job, spare)
        except Exception as exc:  # noqa: BLE001 - a broken job is reported, the worker lives on
            kill_all()
            spare.close()
            reply = {"failure": f"sandbox worker: {type(exc).__name__}: {exc}"}
        if once:
            send(writer, reply)
            return
        clean = scrub()
        if not clean:
            reply["retire"] = "could not empty the writable places after the call"
        send(writer, reply)
        if not clean:
            return  # the container ends and is removed; the host does not reuse it
        serial += 1
        spare = Spare(serial, setup["argv"], env)  # raising ends the worker: the host sees that before the next job


if __name__ == "__main__":
    main()
