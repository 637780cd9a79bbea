"""Warm sandbox containers: one container running the worker, and a thread-safe pool of them."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from turngym.tools.sandbox.base import Limits, SandboxError

WORKER_SOURCE = (Path(__file__).with_name("docker_worker.py")).read_text()
SANDBOX_USER = "65534:65534"
MEMORY_HEADROOM_MB = 32
"""Container memory on top of ``Limits.memory_mb``, for the worker itself (about 12 MiB resident)."""
START_TIMEOUT_S = 60.0


class WorkerGone(Exception):
    """The container's worker closed its end (it died, or the container was stopped)."""


class WorkerTimeout(Exception):
    """The worker did not answer in time."""


def container_spec(api: Any, image: str, limits: Limits, labels: dict[str, str], *, once: bool = False) -> dict[str, Any]:
    """Keyword arguments of ``APIClient.create_container`` for a locked-down worker container."""
    import docker.types

    memory = f"{limits.memory_mb + MEMORY_HEADROOM_MB}m"
    scratch = "uid=65534,gid=65534,nosuid,nodev,noexec"
    host_config = api.create_host_config(
        network_mode="none",
        mem_limit=memory,
        memswap_limit=memory,
        pids_limit=limits.processes + 1,  # the job's processes and threads, plus the worker
        nano_cpus=1_000_000_000,
        read_only=True,
        tmpfs={"/work": f"size={limits.memory_mb}m,mode=0700,{scratch}", "/tmp": f"size={limits.memory_mb}m,mode=1777,{scratch}"},
        shm_size=f"{max(1, limits.file_size_mb)}m",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        ulimits=[docker.types.Ulimit(name="core", soft=0, hard=0), docker.types.Ulimit(name="nofile", soft=1024, hard=1024)],
        ipc_mode="private",
        auto_remove=not once,
        log_config=docker.types.LogConfig(type="none"),  # the worker's replies would otherwise pile up in a log file
    )
    command = ["python3", "-I", "-S", "-c", WORKER_SOURCE] + (["--once"] if once else [])
    return {
        "image": image,
        "command": command,
        "user": SANDBOX_USER,
        "working_dir": "/work",
        "stdin_open": True,  # with detach=False also StdinOnce: the owner's connection closing (even on SIGKILL) ends the worker
        "labels": labels,
        "host_config": host_config,
    }


class ContainerRegistry:
    """Ids of the containers a sandbox made and has not removed yet (thread-safe); its finalizer removes them.

    ``close_and_drain`` refuses new containers, waits for those being started, and hands back every id.
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._cond = threading.Condition()
        self._starting = 0
        self._closed = False

    @contextlib.contextmanager
    def starting(self) -> Iterator[None]:
        with self._cond:
            if self._closed:
                raise SandboxError("this sandbox is closed")
            self._starting += 1
        try:
            yield
        finally:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()

    def add(self, container_id: str) -> bool:
        """Track a new container; False when the sandbox closed meanwhile (the caller removes it)."""
        with self._cond:
            if not self._closed:
                self._ids.add(container_id)
            return not self._closed

    def discard(self, container_id: str) -> None:
        with self._cond:
            self._ids.discard(container_id)

    def close_and_drain(self, timeout: float = 30.0) -> list[str]:
        with self._cond:
            self._closed = True
            self._cond.wait_for(lambda: self._starting == 0, timeout)
            ids, self._ids = list(self._ids), set()
        return ids


class WorkerContainer:
    """A started container whose worker takes jobs over the attach socket (docker's multiplexed stream)."""

    def __init__(self, api: Any, spec: dict[str, Any], registry: ContainerRegistry, setup: dict[str, Any]) -> None:
        self._api = api
        self._registry = registry
        self._stdout = bytearray()
        self._stderr = bytearray()
        with registry.starting():
            self.id: str = api.create_container(**spec)["Id"]
            if not registry.add(self.id):
                self.remove()
                raise SandboxError("this sandbox closed while a container was starting")
            self._start(setup)

    def _start(self, setup: dict[str, Any]) -> None:
        api = self._api
        try:
            self._io = api.attach_socket(self.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            self._sock: socket.socket = getattr(self._io, "_sock", self._io)
            api.start(self.id)
            ready = self.call(setup, START_TIMEOUT_S)
        except (WorkerGone, WorkerTimeout) as exc:
            self.remove()
            tail = self._stderr[-2000:].decode("utf-8", "replace").strip()
            raise SandboxError(
                f"the sandbox container did not start its worker ({exc}); its stderr: {tail or '(empty)'}"
            ) from None
        except Exception:
            self.remove()
            raise
        if ready != {"ready": True}:
            self.remove()
            raise SandboxError(f"the sandbox worker greeted with {ready!r}, expected {{'ready': True}}")

    def call(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one job and wait for its result; raises WorkerGone or WorkerTimeout."""
        body = json.dumps(job).encode()
        try:
            self._sock.settimeout(timeout)
            self._sock.sendall(struct.pack(">I", len(body)) + body)
        except OSError as exc:
            raise WorkerGone(f"could not send the job: {exc}") from None
        return self._receive(time.monotonic() + timeout)

    def alive(self) -> bool:
        """False when the worker has closed its end (it died while idle); a non-blocking peek, no round trip."""
        try:
            self._sock.settimeout(0)  # non-blocking: with a timeout set, Python would wait for data
            return self._sock.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    def _receive(self, deadline: float) -> dict[str, Any]:
        while True:
            if len(self._stdout) >= 4:
                size = struct.unpack(">I", self._stdout[:4])[0]
                if len(self._stdout) >= 4 + size:
                    body = bytes(self._stdout[4 : 4 + size])
                    del self._stdout[: 4 + size]
                    return json.loads(body)
            header = self._read(8, deadline)
            stream, size = header[0], struct.unpack(">I", header[4:8])[0]
            payload = self._read(size, deadline)
            if stream == 1:
                self._stdout += payload
            else:
                self._stderr += payload
                del self._stderr[:-8192]

    def _read(self, size: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerTimeout("no answer in time")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(size - len(data))
            except TimeoutError:
                raise WorkerTimeout("no answer in time") from None
            except OSError as exc:
                raise WorkerGone(str(exc)) from None
            if not chunk:
                raise WorkerGone("the worker closed its output")
            data += chunk
        return bytes(data)

    def remove(self) -> None:
        """Close the connection and remove the container (gone already is fine)."""
        import docker.errors

        for closer in (getattr(self, "_io", None), getattr(self, "_sock", None)):
            try:
                if closer is not None:
                    closer.close()
            except OSError:
                pass
        with contextlib.suppress(docker.errors.APIError):  # removed already (auto-remove), or removal in progress
            self._api.remove_container(self.id, force=True)
        self._registry.discard(self.id)


class ContainerPool:
    """Idle containers for one set of container limits; grows up to ``max_size``, replaces broken ones.

    ``acquire`` hands out an idle container, or starts one (in the background) and waits for the
    first to come free; ``release`` returns it, or discards it and tops the pool back up to ``warm``.
    """

    def __init__(self, factory: Callable[[], WorkerContainer], *, warm: int, max_size: int) -> None:
        self._factory = factory
        self._warm = warm
        self._max_size = max_size
        self._cond = threading.Condition()
        self._idle: deque[WorkerContainer] = deque()
        self._live = 0  # idle + busy + starting
        self._starting = 0
        self._waiting = 0
        self._failures = 0
        self._last_error: BaseException | None = None
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()

    def add(self, container: WorkerContainer) -> None:
        """Adopt a container started by the caller."""
        with self._cond:
            self._live += 1
            self._idle.append(container)
            self._cond.notify()

    def fill(self) -> None:
        """Start containers in the background until ``warm`` are live."""
        with self._cond:
            while self._live < self._warm and not self._closed:
                self._start_one()

    def acquire(self, timeout: float = START_TIMEOUT_S) -> WorkerContainer:
        deadline = time.monotonic() + timeout
        with self._cond:
            failures = self._failures
            while True:
                if self._closed:
                    raise SandboxError("this sandbox is closed")
                while self._idle:
                    container = self._idle.popleft()  # the longest idle: its next launcher has had most time to start
                    if container.alive():
                        return container
                    self._discard(container)
                if self._failures > failures:
                    raise SandboxError(f"could not start a sandbox container: {self._last_error}") from self._last_error
                if self._starting <= self._waiting and self._live < self._max_size:
                    self._start_one()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SandboxError(f"no sandbox container came free within {timeout:.0f} s ({self._live} live)")
                self._waiting += 1
                self._cond.wait(left)
                self._waiting -= 1

    def release(self, container: WorkerContainer, *, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._closed:
                self._idle.append(container)
                self._cond.notify()
            else:
                self._discard(container)

    def _discard(self, container: WorkerContainer) -> None:  # holds the lock
        self._live -= 1
        if self._live < self._warm and not self._closed:
            self._start_one()
        self._cond.notify()
        self._spawn(container.remove)

    def close(self) -> list[WorkerContainer]:
        """Stop handing out containers; returns the idle ones for the caller to remove."""
        with self._cond:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
            self._live -= len(idle)
            self._cond.notify_all()
        return idle

    def join(self, timeout: float = 10.0) -> None:
        """Wait for background starts and removals."""
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _start_one(self) -> None:  # holds the lock
        self._live += 1
        self._starting += 1
        self._spawn(self._create)

    def _create(self) -> None:
        try:
            container = self._factory()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiters
            with self._cond:
                self._live -= 1
                self._starting -= 1
                self._failures += 1
                self._last_error = exc
                self._cond.notify_all()
            return
        with self._cond:
            self._starting -= 1
            if self._closed:
                self._live -= 1
            else:
                self._idle.append(container)
                self._cond.notify()
                return
        container.remove()

    def _spawn(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True, name="turngym-sandbox-pool")
        with self._threads_lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
