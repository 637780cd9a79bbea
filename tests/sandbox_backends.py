"""Sandbox backends for tests: their names, how each is built, and module-scoped fixture factories.

``sandbox = sandbox_fixture()`` in a test module gives a ``sandbox`` fixture parametrized over every backend:
``local`` (bubblewrap where it works), ``local-rlimits`` (the fallback, forced) and ``docker`` (marked ``docker``;
these skip, saying what to install, where no dockerd is there at all). ``backend = backend_fixture()`` gives a
``Backend`` instead: the backend's name, its sandbox, and a second sandbox of the same kind built on first use. A
backend that is there but cannot be built fails its tests with the reason; nothing is skipped silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from turngym.tools.sandbox import Sandbox, make_sandbox, starter
from turngym.tools.sandbox.local import SYSTEM_PATH

LOCAL_BACKENDS = ["local", "local-rlimits"]
BACKENDS = [*LOCAL_BACKENDS, pytest.param("docker", marks=pytest.mark.docker)]

BUBBLEWRAP_MISSING = (
    "needs bubblewrap: apt-get install bubblewrap (scripts/test_services.sh installs it as root)"
    if shutil.which("bwrap", path=SYSTEM_PATH) is None
    else None
)
requires_bubblewrap = pytest.mark.skipif(BUBBLEWRAP_MISSING is not None, reason=BUBBLEWRAP_MISSING or "")
"""For tests of bubblewrap itself: they skip where bwrap is not installed (where it is but fails, they fail)."""


def build_sandbox(name: str, **kwargs: Any) -> Sandbox:
    """A fresh sandbox for a backend name of ``BACKENDS``."""
    if name == "local-rlimits":
        return make_sandbox("local", isolation="rlimits", **kwargs)
    return make_sandbox(name, **kwargs)


def sandbox_fixture(name: str = "sandbox", params: list[Any] | None = None, **kwargs: Any) -> Callable[..., Any]:
    """A module-scoped fixture called ``name`` that yields one sandbox per backend and closes it afterwards."""

    @pytest.fixture(scope="module", params=BACKENDS if params is None else params, name=name)
    def fixture(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
        sandbox = build_sandbox(request.param, **kwargs)
        yield sandbox
        sandbox.close()

    return fixture


@dataclass
class Backend:
    """One backend under test: its name, its sandbox, and another one of the same kind."""

    name: str
    sandbox: Sandbox
    kwargs: dict[str, Any] = field(default_factory=dict)
    _other: Sandbox | None = None

    @property
    def local(self) -> bool:
        return self.name in LOCAL_BACKENDS

    def other(self) -> Sandbox:
        """A second sandbox of this backend (built on first use, closed with the first)."""
        if self._other is None:
            self._other = build_sandbox(self.name, **self.kwargs)
        return self._other

    def assert_still_works(self) -> None:
        """This sandbox, another one of its kind, and the host all still run code."""
        for sandbox in (self.sandbox, self.other()):
            result = sandbox.run("print('still ok')")
            assert (result.stdout, result.error) == ("still ok\n", None), result
        host = subprocess.run([sys.executable, "-c", "print('host ok')"], capture_output=True, text=True, timeout=60)
        assert host.stdout == "host ok\n"

    def close(self) -> None:
        for sandbox in (self.sandbox, self._other):
            if sandbox is not None:
                sandbox.close()


def backend_fixture(name: str = "backend", params: list[Any] | None = None, **kwargs: Any) -> Callable[..., Any]:
    """A module-scoped fixture called ``name`` that yields a ``Backend`` per backend name and closes it afterwards."""

    @pytest.fixture(scope="module", params=BACKENDS if params is None else params, name=name)
    def fixture(request: pytest.FixtureRequest) -> Iterator[Backend]:
        backend = Backend(request.param, build_sandbox(request.param, **kwargs), kwargs)
        yield backend
        backend.close()

    return fixture


def join_background_threads() -> None:
    """Wait for the local backend's spares being started (a closed sandbox discards them) and folders being removed."""
    starter.wait_idle()
    for thread in threading.enumerate():
        if thread.name == "sandbox-cleanup":
            thread.join()


def host_processes_with(token: str) -> list[int]:
    """Pids of host processes whose command line contains ``token`` (processes in any pid namespace show here)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if token.encode() in cmdline.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found
