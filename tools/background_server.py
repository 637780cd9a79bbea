"""An ASGI app served by uvicorn in a daemon thread of this process (the retrieval and policy servers)."""

from __future__ import annotations

import contextlib
import math
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar


@contextlib.contextmanager
def stop_on_signal() -> Iterator[threading.Event]:
    """An event that SIGINT or SIGTERM sets while inside (only the main thread can take signals); the
    previous handlers come back on exit."""
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class BackgroundServer:
    """``app`` served by uvicorn in a background thread.

    ``start()`` binds the socket (port 0 picks a free one) and returns the port once the server
    accepts connections; ``stop()`` stops accepting, lets in-flight requests finish (up to
    ``graceful_timeout_s``), then releases the port. Subclasses set ``error`` (the exception they
    raise) and ``label`` (how messages name them).
    """

    error: ClassVar[type[Exception]] = RuntimeError
    label: ClassVar[str] = "server"

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning", graceful_timeout_s: float = 30.0
    ):
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self.graceful_timeout_s = graceful_timeout_s
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8000``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> int:
        """Bind, start serving in a background thread, and return the bound port."""
        import uvicorn

        if self._thread is not None:
            raise self.error(f"this {type(self).__name__} was already started; make a new one")
        try:
            family, kind, proto, _, address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0]
            # proto must be IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
            # and without it every response waits ~40 ms for a delayed ACK (Nagle)
            sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError as exc:
            raise self.error(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level=self.log_level,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=max(1, math.ceil(self.graceful_timeout_s)),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"turngym-{self.label}-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._close_socket()
                raise self.error(f"the {self.label} on {self.host}:{self.port} exited during startup (see its log)")
            if time.monotonic() > deadline:
                self.stop()
                raise self.error(f"the {self.label} on {self.host}:{self.port} did not start within {timeout} s")
            time.sleep(0.005)
        return self.port

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting connections, let in-flight requests finish, release the port. Idempotent."""
        if self._thread is None:
            return
        if timeout is None:
            timeout = self.graceful_timeout_s + 5.0
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(5.0)
        self._close_socket()

    def run_until_signal(self, started_line: Callable[[], str]) -> None:
        """Start, print ``started_line()`` (the URL is known by then), serve until SIGINT or SIGTERM, then stop.

        Raises ``error`` when the server stops by itself; prints ``turngym <label>: shutting down`` on a signal.
        """
        with stop_on_signal() as stop:
            try:
                bound = self.start()
                print(started_line(), flush=True)
                while not stop.wait(0.25):
                    if not self.running:
                        raise self.error(f"the {self.label} on {self.host}:{bound} stopped unexpectedly")
                print(f"turngym {self.label}: shutting down", flush=True)
            finally:
                self.stop()

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> BackgroundServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped" if self._thread is not None else "not started"
        return f"<{type(self).__name__} {self.url} {state}>"
