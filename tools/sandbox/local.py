"""The ``local`` sandbox: one python3 subprocess per call, under bubblewrap when the kernel allows, with rlimits and a
wall-clock kill of everything the call started."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
import threading
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import ClassVar

from turngym.tools.sandbox.base import Limits, RunResult, Sandbox, SandboxError
from turngym.tools.sandbox.process import classify, run_process

ISOLATIONS = ("auto", "bubblewrap", "rlimits")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_CWD = "/sandbox"  # the work dir as code under bubblewrap sees it
NOBODY = 65534
RANDOM_UIDS = (1_500_000_000, 2_000_000_000)  # rlimits-only as root: each call runs as a fresh uid from this range
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/python3", "/etc/python3.11", "/etc/python3.12")
PROBE_CODE = "import socket; print(sorted(name for _, name in socket.if_nameindex()))"
_probe_lock = threading.Lock()
_probe_results: dict[tuple[str, int], str | None] = {}  # (python, euid) -> None when bubblewrap works, else why not


class LocalSandbox(Sandbox):
    """Runs each call in a fresh temp dir as a python3 subprocess.

    ``isolation="bubblewrap"`` (what ``"auto"`` picks when a probe run works): new user, pid, network, IPC and UTS
    namespaces; only loopback; read-only ``/usr`` and the few ``/etc`` files python needs; a private ``/tmp``; the work
    dir (``/sandbox``) is the only host folder it can write; uid 65534 inside a user namespace of its own, so the
    process limit counts this call alone; everything dies with the call. ``"rlimits"``: the same limits on the host,
    as a fresh unprivileged uid per call when the caller is root (else as the caller), network and filesystem as the
    host's. Interpreter: ``python`` looked up on ``/usr/local/bin:/usr/bin:/bin`` (the system python, not a venv).

    >>> sandbox = LocalSandbox(limits=Limits(wall_seconds=5))
    >>> sandbox.run("print(sum(range(10)))").stdout
    '45\\n'
    >>> sandbox.run("import sys; sys.exit(3)").exit_code
    3
    """

    kind: ClassVar[str] = "local"

    def __init__(self, limits: Limits | None = None, python: str = "python3", isolation: str = "auto"):
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits: expected a Limits, got {type(limits).__name__}")
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation: expected one of {', '.join(map(repr, ISOLATIONS))}, got {isolation!r}")
        self.limits = limits or Limits()
        self.python = _resolve_python(python)
        self._root = os.geteuid() == 0
        self._fallback_reason = ""
        self._method = "rlimits-only"
        if isolation != "rlimits":
            reason = self._bubblewrap_problem()
            if reason is None:
                self._method = "bubblewrap"
            elif isolation == "bubblewrap":
                raise SandboxError(f"bubblewrap isolation is not available here: {reason}")
            else:
                self._fallback_reason = reason
        if self._method == "rlimits-only":
            probe = self.run("print('ok')", limits=Limits(wall_seconds=30))
            if probe.stdout != "ok\n":
                detail = probe.message or probe.stderr[-500:]
                raise SandboxError(f"{self.python} does not run as a sandboxed subprocess: {detail}")

    def _bubblewrap_problem(self) -> str | None:
        """None when a bubblewrap probe run works for this interpreter, else why not (cached per interpreter and user)."""
        key = (self.python, os.geteuid())
        with _probe_lock:
            if key not in _probe_results:
                _probe_results[key] = self._probe_bubblewrap()
            return _probe_results[key]

    def _probe_bubblewrap(self) -> str | None:
        if shutil.which("bwrap") is None:
            return "bwrap is not installed (Debian: apt-get install bubblewrap)"
        if not os.path.realpath(self.python).startswith("/usr/"):
            return f"the interpreter {self.python} is outside /usr, which is all bubblewrap shows"
        self._method = "bubblewrap"
        try:
            result = self.run(PROBE_CODE, limits=Limits(wall_seconds=30))
        finally:
            self._method = "rlimits-only"
        if result.stdout != "['lo']\n":
            return f"a probe run failed: {(result.message or result.stderr).strip()[-300:]}"
        return None

    @property
    def isolation(self) -> dict[str, str]:
        if self._method == "bubblewrap":
            host_uid = NOBODY if self._root else os.geteuid()
            facts = {
                "method": "bubblewrap",
                "network": "loopback-only",
                "filesystem": "read-only /usr and python's /etc files; writable work dir and private /tmp",
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
        if not isinstance(code, str):
            raise TypeError(f"code: expected str, got {type(code).__name__}")
        if not isinstance(stdin, str):
            raise TypeError(f"stdin: expected str, got {type(stdin).__name__}")
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits: expected a Limits or None, got {type(limits).__name__}")
        limits = limits or self.limits
        uid = self._call_uid()
        root = Path(tempfile.mkdtemp(prefix="turngym-sandbox-"))
        try:
            os.chmod(root, 0o711)
            work = root / "work"
            _write_files(work, files, uid)
            if self._method == "bubblewrap":
                wrapper, tmp = partial(bubblewrap_argv, work), "/tmp"
            else:
                wrapper, tmp = None, str(root / "tmp")
                _make_dir(Path(tmp), uid)
            env = {
                "PATH": SYSTEM_PATH,
                "HOME": SANDBOX_CWD if self._method == "bubblewrap" else str(work),
                "TMPDIR": tmp,
                "LANG": "C.UTF-8",
                "USER": "sandbox",
                "LOGNAME": "sandbox",
            }
            python = os.path.realpath(self.python) if self._method == "bubblewrap" else self.python  # symlinks outside /usr
            outcome = run_process(python, wrapper=wrapper, code=code, stdin=stdin, cwd=str(work), env=env, uid=uid, limits=limits)
        finally:
            _remove_tree(root)
        return classify(outcome, limits)

    def _call_uid(self) -> int | None:
        """The host uid a call runs as: None (the caller's) unless the caller is root."""
        if not self._root:
            return None
        if self._method == "bubblewrap":
            return NOBODY  # the user namespace makes the process count per call
        return random.SystemRandom().randrange(*RANDOM_UIDS)

    def __repr__(self) -> str:
        return f"LocalSandbox(method={self._method!r}, python={self.python!r}, limits={self.limits})"


def bubblewrap_argv(work: Path, info_fd: int) -> list[str]:
    """bwrap's command line: fresh namespaces, a read-only root with the system folders, a private /tmp, the work dir
    at /sandbox; bwrap writes the sandbox's init pid to ``info_fd``."""
    argv = [
        "bwrap",
        "--info-fd",
        str(info_fd),
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
    ]
    argv += ["--uid", str(NOBODY), "--gid", str(NOBODY), "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    for path in ETC_FILES:
        argv += ["--ro-bind-try", path, path]
    argv += ["--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev", "--bind", str(work), SANDBOX_CWD, "--chdir", SANDBOX_CWD]
    return argv + ["--remount-ro", "/"]


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


def _write_files(work: Path, files: Mapping[str, str | bytes] | None, uid: int | None) -> None:
    _make_dir(work, uid)
    if files is None:
        return
    if not isinstance(files, Mapping):
        raise TypeError(f"files: expected a mapping of relative paths to str or bytes, got {type(files).__name__}")
    for name, content in files.items():
        parts = Path(name).parts if isinstance(name, str) else ()
        if not parts or Path(name).is_absolute() or ".." in parts:
            raise ValueError(f"files: expected relative paths inside the work dir, got {name!r}")
        if not isinstance(content, (str, bytes)):
            raise TypeError(f"files[{name!r}]: expected str or bytes, got {type(content).__name__}")
        target = work.joinpath(*parts)
        for parent in reversed(target.relative_to(work).parents[:-1]):
            _make_dir(work / parent, uid)
        target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        if uid is not None:
            os.chown(target, uid, uid)


def _make_dir(path: Path, uid: int | None) -> None:
    path.mkdir(mode=0o755, exist_ok=True)
    if uid is not None:
        os.chown(path, uid, uid)


def _remove_tree(root: Path) -> None:
    def make_writable(function: object, path: str, _exc: object) -> None:
        parent = os.path.dirname(path)
        for target in (parent, path):
            with contextlib.suppress(OSError):
                os.chmod(target, 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)

    shutil.rmtree(root, onerror=make_writable)
