"""The ``docker`` sandbox: a warm pool of locked-down containers on a real dockerd, one worker each.

Each container runs with no network, a read-only root, a tmpfs work area, uid 65534, no
capabilities, no new privileges, and memory, pids and CPU limits; its worker (PID 1) runs each call
in a child process with rlimits, a wall-clock kill and output caps, then kills every other process
and empties the writable places, so a call costs milliseconds rather than a container start.
Containers carry labels naming their owner process; they go on ``close()``, at interpreter exit,
when the owner dies (its attach connection closes), and through ``sweep()`` for anything left.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar

from turngym.tools.sandbox.base import Limits, RunResult, Sandbox, SandboxError
from turngym.tools.sandbox.docker_daemon import DEFAULT_LABEL, connect, owner_labels, sweep
from turngym.tools.sandbox.docker_jobs import SANDBOX_ENV, launcher_argv, make_job, to_result
from turngym.tools.sandbox.docker_pool import (
    ContainerPool,
    ContainerRegistry,
    WorkerContainer,
    WorkerGone,
    WorkerTimeout,
    container_spec,
)

__all__ = ["DEFAULT_IMAGE", "DEFAULT_LABEL", "DockerSandbox", "connect", "owner_labels", "sweep"]

DEFAULT_IMAGE = "turngym-sandbox:latest"
CALL_GRACE_S = 10.0
"""How much longer than the wall-clock limit the host waits for the worker before discarding the container."""


def _remove_all(api: Any, registry: ContainerRegistry, owner_pid: int) -> None:
    """Finalizer: force-remove every container a sandbox made and still holds (in parallel; gone already is fine).

    Only in the process that made them: a forked child exiting leaves its parent's containers alone.
    """
    import docker.errors

    if os.getpid() != owner_pid:
        return

    def remove(container_id: str) -> None:
        with contextlib.suppress(docker.errors.APIError, OSError):
            api.remove_container(container_id, force=True)

    threads = [threading.Thread(target=remove, args=(cid,), daemon=True) for cid in registry.close_and_drain()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


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
        self._registry = ContainerRegistry()
        self._pools: dict[tuple[int, int], ContainerPool] = {}
        self._pools_lock = threading.Lock()
        self._closed = False
        self._owner_pid = os.getpid()
        self._finalizer = weakref.finalize(self, _remove_all, self._api, self._registry, self._owner_pid)
        try:
            try:
                self._client.images.get(image)
            except docker.errors.ImageNotFound:
                where = docker_host or os.environ.get("DOCKER_HOST", "the default socket")
                raise SandboxError(
                    f"sandbox image {image!r} not found on dockerd at {where}; build it with "
                    f"`turngym sandbox build-image --tag {image}` (no registry is pulled from)"
                ) from None
            pool = self._pool_for(self.limits)
            if pool_size > 0:
                pool.add(self._start_container(self.limits))  # fails here, not on the first call, if containers cannot start
                pool.fill()
        except BaseException:
            self.close()
            raise

    @property
    def isolation(self) -> dict[str, str]:
        return {
            "method": "docker",
            "network": "none",
            "user": "65534",
            "filesystem": "read-only root, tmpfs work dir",
            "memory": "the container's memory cgroup, and address space per process (RLIMIT_AS)",
            "processes": "the container's pids limit; every process is killed after each call",
        }

    def __repr__(self) -> str:
        return f"DockerSandbox(image={self.image!r}, pool_size={self.pool_size}, limits={self.limits})"

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
        healthy = False
        try:
            result, healthy = self._call(container, job, limits, start, "; the container was discarded")
        finally:
            pool.release(container, healthy=healthy)
        return result

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
            return self._call(container, job, limits, start)[0]
        finally:
            container.remove()

    @classmethod
    def _call(cls, container: Any, job: Any, limits: Limits, start: float, discarded: str = "") -> tuple[RunResult, bool]:
        """Run ``job`` on ``container``'s worker: the result, and whether the container may serve again."""
        try:
            reply = container.call(job, timeout=limits.wall_seconds + CALL_GRACE_S)
        except WorkerTimeout:
            message = f"timed out after {limits.wall_seconds} s wall clock (the worker did not answer)"
            return cls._failed(start, "timeout", message), False
        except WorkerGone as exc:
            return cls._failed(start, "killed", f"the sandbox container's worker died during the call ({exc}){discarded}"), False
        return to_result(reply, limits, time.monotonic() - start), "retire" not in reply

    def close(self) -> None:
        with self._pools_lock:
            self._closed = True
            pools = list(self._pools.values())
        if os.getpid() != self._owner_pid:
            return  # a forked child: the containers are its parent's
        for pool in pools:
            for container in pool.close():
                container.remove()
        for pool in pools:
            pool.join()
        self._finalizer()  # removes every container still held: busy ones, late starters
        self._client.close()

    def _check(self, code: str, stdin: str, limits: Limits | None) -> Limits:
        limits = self._call_limits(code, stdin, limits)
        if self._closed:
            raise SandboxError("this DockerSandbox is closed")
        if os.getpid() != self._owner_pid:
            raise SandboxError(
                f"this DockerSandbox belongs to process {self._owner_pid}; a forked child cannot share its containers, "
                "so build a DockerSandbox in the child"
            )
        return limits

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
