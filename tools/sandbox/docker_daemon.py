"""The docker daemon side of the sandbox: connecting with clear errors, owner labels, and sweeping leftovers."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from turngym.tools.sandbox.base import SandboxError

DEFAULT_LABEL = "turngym.sandbox"
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
    for container in client.containers.list(all=True, filters={"label": label}, ignore_removed=True):
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
