"""The ``local`` sandbox: a fresh python3 process per call, under bubblewrap when the kernel allows, with rlimits and
a wall-clock kill of everything the call started. The next call's process starts ahead of it (a spare), so a call
does not wait for bubblewrap and the interpreter to start."""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from turngym.tools.sandbox.base import Limits, RunResult, Sandbox, SandboxError
from turngym.tools.sandbox.process import Outcome, classify
from turngym.tools.sandbox.spare import Identity, Spare, check_files
from turngym.tools.sandbox.starter import start_soon

ISOLATIONS = ("auto", "bubblewrap", "rlimits")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_CWD = "/sandbox"  # the work dir as code under bubblewrap sees it
NOBODY = 65534
RANDOM_UIDS = (1_500_000_000, 2_000_000_000)  # rlimits-only as root: each call runs as a fresh uid from this range
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/python3", "/etc/python3.11", "/etc/python3.12")
SANDBOX_ENV = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "USER": "sandbox", "LOGNAME": "sandbox"}
TMP_MIN_MB = 64  # the private /tmp under bubblewrap holds max(this, 4 x file_size_mb)
PROBE_CODE = "import socket; print(sorted(name for _, name in socket.if_nameindex()))"
_probe_lock = threading.Lock()
_probe_results: dict[tuple[str, str, int], str | None] = {}  # (method, python, euid) -> None when it works, else why not


class LocalSandbox(Sandbox):
    """Runs each call as a fresh python3 process in a fresh, empty work dir.

    ``isolation="bubblewrap"`` (what ``"auto"`` picks when a probe run works): new user, pid, network, IPC and UTS
    namespaces; only loopback; a read-only root with ``/usr`` and the few ``/etc`` files python needs; a private
    ``/tmp``; the work dir (``/sandbox``) is the only host folder it can write; uid 65534 inside a user namespace of its
    own, so the process limit counts this call alone; everything dies with the call. ``"rlimits"``: the same limits on
    the host, as a fresh unprivileged uid per call when the caller is root (else as the caller), network and
    filesystem as the host's. Interpreter: ``python`` looked up on ``/usr/local/bin:/usr/bin:/bin`` (the system python,
    not a venv), started with ``-I -S -B`` (its site-packages folders are on ``sys.path``; ``.pth`` files do not run).

    ``spares`` processes for the default limits start ahead of calls (0: each call starts its own, about the time of
    an interpreter start slower); a call with other limits starts its own. Thread-safe; a forked child starts its own.

    >>> sandbox = LocalSandbox(limits=Limits(wall_seconds=5))
    >>> sandbox.run("print(sum(range(10)))").stdout
    '45\\n'
    >>> sandbox.run("import sys; sys.exit(3)").exit_code
    3
    >>> sandbox.close()
    """

    kind: ClassVar[str] = "local"

    def __init__(self, limits: Limits | None = None, python: str = "python3", isolation: str = "auto", spares: int = 1):
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits: expected a Limits, got {type(limits).__name__}")
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation: expected one of {', '.join(map(repr, ISOLATIONS))}, got {isolation!r}")
        if isinstance(spares, bool) or not isinstance(spares, int) or spares < 0:
            raise ValueError(f"spares: expected an integer >= 0, got {spares!r}")
        self.limits = limits or Limits()
        self.python = _resolve_python(python)
        self.spares = spares
        self._root = os.geteuid() == 0
        self._setpriv = shutil.which("setpriv", path=SYSTEM_PATH)
        self._fallback_reason = ""
        self._method = "rlimits-only"
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self._idle: list[Spare] = []
        self._closed = False
        weakref.finalize(self, _discard_all, self._idle)
        if isolation != "rlimits":
            reason = self._probe("bubblewrap")
            if reason is None:
                self._method = "bubblewrap"
            elif isolation == "bubblewrap":
                raise SandboxError(f"bubblewrap isolation is not available here: {reason}")
            else:
                self._fallback_reason = reason
        if self._method == "rlimits-only" and (reason := self._probe("rlimits-only")) is not None:
            raise SandboxError(f"{self.python} does not run as a sandboxed subprocess: {reason}")
        self._refill_soon(self.limits)

    @property
    def isolation(self) -> dict[str, str]:
        if self._method == "bubblewrap":
            host_uid = NOBODY if self._root else os.geteuid()
            facts = {
                "method": "bubblewrap",
                "network": "loopback-only",
                "filesystem": "read-only root with /usr and python's /etc files; writable work dir and private /tmp",
                "user": f"uid {NOBODY} in a user namespace of its own (host uid {host_uid})",
                "processes": "counted per call (user and pid namespace); all die with the call",
            }
        else:
            facts = {
                "method": "rlimits-only",
                "network": "host",
                "filesystem": "host, as the user below: anything it may write (such as /tmp) is writable",
                "user": "a fresh unprivileged uid per call" if self._root else f"the caller's (uid {os.geteuid()})",
                "processes": "counted per call; leftovers killed by uid"
                if self._root
                else "counted across all processes of the caller's uid; leftovers killed by process group only",
            }
        facts["memory"] = "address space per process (RLIMIT_AS)"
        if self._fallback_reason:
            facts["fallback"] = f"bubblewrap not used: {self._fallback_reason}"
        return facts

    def run(
        self,
        code: str,
        *,
        stdin: str = "",
        files: Mapping[str, str | bytes] | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        started = time.monotonic()
        limits = self._call_limits(code, stdin, limits)
        checked = check_files(files)
        spare, ahead = self._take(limits)
        if limits == self.limits:
            self._refill_soon(limits)  # the next call's process starts while this one runs
        outcome = self._run_on(spare, code, stdin, checked, started)
        if ahead and b"R" not in outcome.status and outcome.stopped is None:
            # a spare that died while it waited (killed from outside, say) is no failure of the call: start afresh
            outcome = self._run_on(self._start(limits), code, stdin, checked, started)
        return classify(outcome, limits)

    @staticmethod
    def _run_on(spare: Spare, code: str, stdin: str, files: list[tuple[tuple[str, ...], bytes]], started: float) -> Outcome:
        try:
            spare.write_files(files)
        except BaseException:
            spare.discard()
            raise
        return spare.run(code, stdin, started)

    def close(self) -> None:
        """Stop the spare processes; later calls still work, each starting its own."""
        with self._lock:
            self._closed = True
            idle = self._idle[:]
            self._idle.clear()
        _discard_all(idle)

    def _take(self, limits: Limits) -> tuple[Spare, bool]:
        """A spare started ahead for these limits (and True), or a new one (and False)."""
        with self._lock:
            self._after_fork()
            for index, spare in enumerate(self._idle):
                if spare.limits == limits:
                    del self._idle[index]
                    if spare.alive():
                        return spare, True
                    spare.discard()
                    break
        return self._start(limits), False

    def _refill_soon(self, limits: Limits) -> None:
        """Start the missing spares on the starter thread: starting a process takes milliseconds a call should not wait."""
        start_soon(self._refill, limits)

    def _refill(self, limits: Limits) -> None:
        with self._lock:
            self._after_fork()
            missing = 0 if self._closed else self.spares - sum(spare.limits == limits for spare in self._idle)
        started = [self._start(limits) for _ in range(missing)]
        with self._lock:
            late = self._closed or self._owner != os.getpid()
            if not late:
                self._idle.extend(started)
        if late:  # closed meanwhile
            _discard_all(started)

    def _after_fork(self) -> None:
        """In a forked child the spares are the parent's processes: forget them (the parent discards them)."""
        if self._owner != os.getpid():
            self._owner, self._idle = os.getpid(), []
            weakref.finalize(self, _discard_all, self._idle)

    def _start(self, limits: Limits, method: str | None = None) -> Spare:
        method = method or self._method
        bubblewrap = method == "bubblewrap"
        if not self._root:
            uid = None
        else:
            uid = NOBODY if bubblewrap else random.SystemRandom().randrange(*RANDOM_UIDS)
        env = {**SANDBOX_ENV, "HOME": SANDBOX_CWD, "TMPDIR": "/tmp"}  # without bubblewrap the spare points both at its folder
        python = os.path.realpath(self.python) if bubblewrap else self.python  # a symlink's target is under /usr
        return Spare(python, limits, Identity(uid, self._setpriv), env, bubblewrap_argv if bubblewrap else None)

    def _probe(self, method: str) -> str | None:
        """None when a run works with this method (cached per interpreter and user), else why not."""
        key = (method, self.python, os.geteuid())
        with _probe_lock:
            if key not in _probe_results:
                _probe_results[key] = self._probe_once(method)
            return _probe_results[key]

    def _probe_once(self, method: str) -> str | None:
        if method == "bubblewrap":
            if shutil.which("bwrap", path=SYSTEM_PATH) is None:
                return "bwrap is not installed (Debian: apt-get install bubblewrap)"
            if not os.path.realpath(self.python).startswith("/usr/"):
                return f"the interpreter {self.python} is outside /usr, which is all bubblewrap shows"
        limits = Limits(wall_seconds=30)
        result = classify(self._start(limits, method).run(PROBE_CODE, "", time.monotonic()), limits)
        if result.error is not None or not result.stdout.startswith("["):
            return f"a probe run failed: {(result.message or result.stderr).strip()[-300:]}"
        if method == "bubblewrap" and result.stdout != "['lo']\n":
            return f"the network is not private: interfaces {result.stdout.strip()}"
        return None

    def __repr__(self) -> str:
        return f"LocalSandbox(method={self._method!r}, python={self.python!r}, limits={self.limits})"


def bubblewrap_argv(work: Path, info_fd: int, limits: Limits) -> list[str]:
    """bwrap's command line: fresh namespaces, a read-only root with the system folders, a private size-capped /tmp,
    the work dir at /sandbox; bwrap writes the sandbox's init pid to ``info_fd``."""
    argv = ["bwrap", "--info-fd", str(info_fd), "--unshare-all", "--unshare-user", "--disable-userns"]
    argv += ["--die-with-parent", "--new-session", "--uid", str(NOBODY), "--gid", str(NOBODY), "--hostname", "sandbox"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    for path in ETC_FILES:
        argv += ["--ro-bind-try", path, path]
    tmp_bytes = max(TMP_MIN_MB, 4 * limits.file_size_mb) * 2**20
    argv += ["--size", str(tmp_bytes), "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    argv += ["--bind", str(work), SANDBOX_CWD, "--chdir", SANDBOX_CWD, "--remount-ro", "/"]
    return argv


def _resolve_python(python: str) -> str:
    if not isinstance(python, str) or not python:
        raise TypeError(f"python: expected an interpreter name or path, got {python!r}")
    found = shutil.which(python, path=SYSTEM_PATH) if os.sep not in python else python
    if found is None or not os.access(found, os.X_OK):
        raise SandboxError(
            f"python: expected {python!r} on {SYSTEM_PATH} (the system python runs sandboxed code); "
            "install it (Debian: apt-get install python3) or pass python=/absolute/path"
        )
    return found


def _discard_all(spares: list[Spare]) -> None:
    for spare in spares:
        spare.discard()
