"""Helpers for the docker sandbox tests: whether a dockerd is there, a client on it, labelled containers, polling."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

SANDBOX_SCRIPT = """
import sys, time
from turngym.tools.sandbox.docker import DockerSandbox
sandbox = DockerSandbox(pool_size=2, label={label!r})
print(sandbox.run("print('up')").stdout, end="", flush=True)
{then}
"""
"""A child process that builds a sandbox with ``label``, prints ``up`` from a call, then runs ``then``."""


DEFAULT_SOCKET = "/var/run/docker.sock"


def dockerd_missing() -> str | None:
    """Why no docker test can run here (no dockerd to talk to), saying what to install; None when there is one.

    Only an absent daemon counts: a DOCKER_HOST that is set, or a default socket that exists, is a daemon the tests
    use, and its failures fail them with the reason.
    """
    if os.environ.get("DOCKER_HOST") or os.path.exists(DEFAULT_SOCKET):
        return None
    if shutil.which("dockerd") is None:
        return "needs dockerd: apt-get install docker.io (scripts/test_services.sh installs and starts it as root)"
    return f"needs a running dockerd: no DOCKER_HOST and no {DEFAULT_SOCKET}; start one (scripts/test_services.sh does as root)"


def unique_label() -> str:
    """A label key of its own, so a test sees only its own containers."""
    return f"turngym.test-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def client() -> Iterator[Any]:
    """A client on ``DOCKER_HOST``, closed afterwards."""
    import docker

    docker_client = docker.from_env()
    try:
        yield docker_client
    finally:
        docker_client.close()


def containers(label: str, owner_pid: int | None = None) -> list[Any]:
    """Containers (running or not) that carry ``label``, and that ``owner_pid`` made when given."""
    filters = [label] if owner_pid is None else [label, f"{label}.owner-pid={owner_pid}"]
    with client() as docker_client:
        return docker_client.containers.list(all=True, filters={"label": filters}, ignore_removed=True)


def wait_until(predicate: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; returns its last value."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return predicate()
        time.sleep(every)
    return True
