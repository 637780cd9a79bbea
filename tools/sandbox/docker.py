"""The ``docker`` sandbox: a warm pool of locked-down containers on a real dockerd, one worker each.

Each container runs with no network, a read-only root, a tmpfs work area, uid 65534, no
capabilities, no new privileges, and memory, pids and CPU limits; its worker (PID 1) runs each call
in a child process with rlimits, a wall-clock kill and output caps, then kills every other process
and empties the writable places, so a call costs milliseconds rather than a container start.
Containers carry labels naming their owner process; they go on ``close()``, at interpreter exit,
when the owner dies (its attach connection closes), and through ``sweep()`` for anything left.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, ClassVar

from turngym.tools.sandbox.base import Limits, RunResult, Sandbox, SandboxError
from turngym.tools.sandbox.docker_pool import (
    ContainerPool,
    ContainerRegistry,
    WorkerContainer,
    WorkerGone,
    WorkerTimeout,
    container_spec,
)
from turngym.tools.sandbox.process import OUTPUT_KILL_BYTES, Outcome, classify, runner_command

DEFAULT_IMAGE = "turngym-sandbox:latest"
DEFAULT_LABEL = "turngym.sandbox"
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
CALL_GRACE_S = 10.0
"""How much longer than the wall-clock limit the host waits for the worker before discarding the container."""
START_HINT = (
    "Start one, e.g. `dockerd --bridge=none --iptables=false --ip6tables=false --data-root DIR/data "
    "--exec-root DIR/exec -H unix://DIR/docker.sock &` and `export DOCKER_HOST=unix://DIR/docker.sock`"
)


def connect(docker_host: str | None = None) -> Any:
    """A ``docker.DockerClient`` that answered a ping; SandboxError naming DOCKER_HOST otherwise."""
    try:
        import docker
    except ImportError:
        raise SandboxError("the docker sandbox needs the docker SDK: pip install 'turngym[sandbox]'") from None
    where = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (the default)"
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=30) if docker_host else docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the daemon reads the same to the user
        raise SandboxError(f"cannot reach dockerd at DOCKER_HOST={where}: {exc}. Is dockerd running? {START_HINT}") from None
    return client


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart); None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_labels(label: str) -> dict[str, str]:
    """Labels that let ``sweep`` tell whether the process that made a container is still alive."""
    pid = os.getpid()
    return {
        label: "1",
        f"{label}.owner-pid": str(pid),
        f"{label}.owner-start": _process_start(pid) or "",
        f"{label}.owner-host": socket.gethostname(),
        f"{label}.created": f"{time.time():.3f}",
    }


def _owner_dead(labels: Mapping[str, str], label: str) -> bool:
    if labels.get(f"{label}.owner-host") != socket.gethostname():
        return False  # made on another machine: its pid means nothing here
    try:
        pid = int(labels.get(f"{label}.owner-pid", ""))
    except ValueError:
        return True
    start = _process_start(pid)
    return start is None or start != labels.get(f"{label}.owner-start", start)


def sweep(label: str = DEFAULT_LABEL, older_than: float | None = None, *, docker_host: str | None = None) -> list[str]:
    """Remove containers labelled ``label`` whose owner process is dead (or, given ``older_than``, older than that many seconds).

    Returns the short ids removed.
    """
    import docker.errors

    client = connect(docker_host)
    removed = []
    now = time.time()
    for container in client.containers.list(all=True, filters={"label": label}):
        labels = container.labels
        try:
            created = float(labels.get(f"{label}.created", "inf"))
        except ValueError:
            created = float("inf")
        stale = older_than is not None and now - created > older_than
        if stale or _owner_dead(labels, label):
            try:
                container.remove(force=True)
                removed.append(container.short_id)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: removal already in progress
                    raise
    client.close()
    return removed


def _remove_all(api: Any, registry: ContainerRegistry) -> None:
    """Finalizer: force-remove every container a sandbox made and still holds (in parallel; gone already is fine)."""
    import docker.errors

    def remove(container_id: str) -> None:
        with contextlib.suppress(docker.errors.APIError, OSError):
            api.remove_container(container_id, force=True)

    threads = [threading.Thread(target=remove, args=(cid,), daemon=True) for cid in registry.drain()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


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


class DockerSandbox(Sandbox):
    """Runs Python in warm, locked-down containers on a real dockerd.

    Args:
        image: a local image holding python3 (``turngym sandbox build-image`` makes the default).
        limits: default limits for each call.
        pool_size: containers kept warm; more start on demand, up to ``max_containers``.
        max_containers: most containers at once (default ``max(pool_size, 8)``); callers beyond wait.
        docker_host: daemon address (default: ``DOCKER_HOST``, then the local socket).
        label: label key on every container (``sweep`` finds them by it).
    """

    kind: ClassVar[str] = "docker"

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        limits: Limits | None = None,
        pool_size: int = 2,
        max_containers: int | None = None,
        docker_host: str | None = None,
        label: str = DEFAULT_LABEL,
    ) -> None:
        if not isinstance(pool_size, int) or pool_size < 0:
            raise ValueError(f"pool_size: expected an integer >= 0, got {pool_size!r}")
        max_containers = max(pool_size, 8) if max_containers is None else max_containers
        if not isinstance(max_containers, int) or max_containers < max(1, pool_size):
            raise ValueError(f"max_containers: expected an integer >= max(1, pool_size={pool_size}), got {max_containers!r}")
        import docker.errors

        self.image = image
        self.limits = limits or Limits()
        self.label = label
        self.pool_size = pool_size
        self.max_containers = max_containers
        self._client = connect(docker_host)
        self._api = self._client.api
        try:
            self._client.images.get(image)
        except docker.errors.ImageNotFound:
            where = docker_host or os.environ.get("DOCKER_HOST", "the default socket")
            raise SandboxError(
                f"sandbox image {image!r} not found on dockerd at {where}; build it with "
                f"`turngym sandbox build-image --tag {image}` (no registry is pulled from)"
            ) from None
        self._registry = ContainerRegistry()
        self._pools: dict[tuple[int, int], ContainerPool] = {}
        self._pools_lock = threading.Lock()
        self._closed = False
        self._finalizer = weakref.finalize(self, _remove_all, self._api, self._registry)
        pool = self._pool_for(self.limits)
        pool.add(self._start_container(self.limits))  # fails here, not on the first call, if containers cannot start
        pool.fill()

    @property
    def isolation(self) -> dict[str, str]:
        return {"method": "docker", "network": "none", "user": "65534", "filesystem": "read-only root, tmpfs work dir"}

    def run(
        self,
        code: str,
        *,
        stdin: str = "",
        files: Mapping[str, str | bytes] | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        limits = self._check(code, stdin, limits)
        job = make_job(code, stdin, files, limits)
        start = time.monotonic()
        pool = self._pool_for(limits)
        container = pool.acquire()
        try:
            reply = container.call(job, timeout=limits.wall_seconds + CALL_GRACE_S)
        except WorkerTimeout:
            pool.release(container, healthy=False)
            return self._failed(
                start, "timeout", f"timed out after {limits.wall_seconds} s wall clock (the worker did not answer)"
            )
        except WorkerGone as exc:
            pool.release(container, healthy=False)
            return self._failed(start, "killed", f"the sandbox container's worker died during the call ({exc}); it was replaced")
        except BaseException:
            pool.release(container, healthy=False)
            raise
        pool.release(container, healthy=True)
        return to_result(reply, limits, time.monotonic() - start)

    def run_cold(
        self,
        code: str,
        *,
        stdin: str = "",
        files: Mapping[str, str | bytes] | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        """Run in a fresh container created, started and removed for this call alone (``docker run --rm``)."""
        limits = self._check(code, stdin, limits)
        job = make_job(code, stdin, files, limits)
        start = time.monotonic()
        container = self._start_container(limits, once=True)
        try:
            reply = container.call(job, timeout=limits.wall_seconds + CALL_GRACE_S)
        except WorkerTimeout:
            return self._failed(
                start, "timeout", f"timed out after {limits.wall_seconds} s wall clock (the worker did not answer)"
            )
        except WorkerGone as exc:
            return self._failed(start, "killed", f"the sandbox container's worker died during the call ({exc})")
        finally:
            container.remove()
        return to_result(reply, limits, time.monotonic() - start)

    def close(self) -> None:
        with self._pools_lock:
            self._closed = True
            pools = list(self._pools.values())
        for pool in pools:
            for container in pool.close():
                container.remove()
        for pool in pools:
            pool.join()
        self._finalizer()  # removes every container still held: busy ones, late starters
        self._client.close()

    def _check(self, code: str, stdin: str, limits: Limits | None) -> Limits:
        if not isinstance(code, str):
            raise TypeError(f"code: expected str, got {type(code).__name__}")
        if not isinstance(stdin, str):
            raise TypeError(f"stdin: expected str, got {type(stdin).__name__}")
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits: expected Limits or None, got {type(limits).__name__}")
        if self._closed:
            raise SandboxError("this DockerSandbox is closed")
        return limits or self.limits

    def _pool_for(self, limits: Limits) -> ContainerPool:
        """Containers are shared by calls whose container-level limits (memory, processes) match."""
        key = (limits.memory_mb, limits.processes)
        with self._pools_lock:
            if self._closed:
                raise SandboxError("this DockerSandbox is closed")
            if key not in self._pools:
                warm = self.pool_size if not self._pools else 0
                self._pools[key] = ContainerPool(lambda: self._start_container(limits), warm=warm, max_size=self.max_containers)
            return self._pools[key]

    def _start_container(self, limits: Limits, *, once: bool = False) -> WorkerContainer:
        spec = container_spec(self._api, self.image, limits, owner_labels(self.label), once=once)
        try:
            return WorkerContainer(self._api, spec, self._registry, {"argv": launcher_argv(limits), "env": SANDBOX_ENV})
        except SandboxError:
            raise
        except Exception as exc:  # noqa: BLE001 - docker API errors become sandbox errors
            raise SandboxError(f"could not start a sandbox container from {self.image!r}: {exc}") from None

    @staticmethod
    def _failed(start: float, error: str, message: str) -> RunResult:
        return RunResult(stdout="", stderr="", exit_code=None, duration_s=time.monotonic() - start, error=error, message=message)
