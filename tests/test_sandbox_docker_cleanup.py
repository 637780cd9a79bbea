"""Docker sandbox containers do not outlive their owner: interpreter exit, SIGKILL of the owner, and ``sweep``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from sandbox_docker_helpers import SANDBOX_SCRIPT, client, containers, unique_label, wait_until
from typer.testing import CliRunner

from turngym.cli.commands import app
from turngym.tools.sandbox.docker import DEFAULT_IMAGE, owner_labels, sweep

pytestmark = pytest.mark.docker


def start_owner(label: str, then: str) -> subprocess.Popen[str]:
    """A child process that owns a sandbox with ``label``; returns once its first call printed ``up``."""
    owner = subprocess.Popen(
        [sys.executable, "-c", SANDBOX_SCRIPT.format(label=label, then=then)], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None and owner.stdout.readline() == "up\n"
    return owner


def labelled_sleeper(label: str, labels: dict[str, str]) -> str:
    """A running container with ``labels`` that nothing else will remove (no auto-remove, no attached owner)."""
    with client() as docker_client:
        container = docker_client.containers.run(
            DEFAULT_IMAGE, ["python3", "-c", "import time; time.sleep(120)"], labels=labels, network_mode="none", detach=True
        )
        return container.short_id


def test_interpreter_exit_removes_the_containers():
    label = unique_label()
    owner = start_owner(label, "sys.exit(0)  # no close(): the finalizer runs at exit")
    assert owner.wait(60) == 0
    assert containers(label) == []


def test_a_killed_owner_leaves_nothing_once_swept():
    label = unique_label()
    owner = start_owner(label, "time.sleep(120)")
    assert len(containers(label)) >= 1
    owner.send_signal(signal.SIGKILL)
    owner.wait(10)
    # Its attach connections closed, so each started worker reads end-of-input, stops, and its container removes
    # itself; sweep removes the rest (a container still being created when the owner died never started).
    sweep(label)
    assert wait_until(lambda: containers(label) == [], 15), containers(label)


def test_sweep_removes_dead_owners_containers_and_keeps_live_ones():
    label = unique_label()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = finished.stdout.strip()
    live = labelled_sleeper(label, owner_labels(label))
    dead = labelled_sleeper(label, {**owner_labels(label), f"{label}.owner-pid": dead_pid})
    reused = labelled_sleeper(label, {**owner_labels(label), f"{label}.owner-start": "1"})  # our pid, another start time
    try:
        assert sorted(sweep(label)) == sorted([dead, reused])
        assert [c.short_id for c in containers(label)] == [live]
    finally:
        with client() as docker_client:
            for container in docker_client.containers.list(all=True, filters={"label": label}, ignore_removed=True):
                container.remove(force=True)


def test_sweep_older_than_removes_by_age_whoever_owns_them():
    label = unique_label()
    young = labelled_sleeper(label, owner_labels(label))
    old = labelled_sleeper(label, {**owner_labels(label), f"{label}.created": f"{time.time() - 3600:.3f}"})
    try:
        result = CliRunner().invoke(app, ["sandbox", "sweep", "--label", label, "--older-than", "600"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"removed 1 container(s): {old}"
        assert [c.short_id for c in containers(label)] == [young]
    finally:
        sweep(label, older_than=0)
    assert containers(label) == []


def test_sweep_leaves_containers_of_other_labels_alone():
    label, other = unique_label(), unique_label()
    kept = labelled_sleeper(other, {**owner_labels(other), f"{other}.owner-pid": "999999999"})
    try:
        assert sweep(label, older_than=0) == []
        assert [c.short_id for c in containers(other)] == [kept]
    finally:
        assert sweep(other) == [kept]  # its owner pid does not exist
    assert containers(other) == []


FORK_THEN = """
import os
child = os.fork()
if child == 0:
    try:
        sandbox.run("print(1)")
    except Exception as exc:
        print("child:", type(exc).__name__, "forked child" in str(exc), flush=True)
    sandbox.close()
    sys.exit(0)  # a normal exit: finalizers run in the child too
os.waitpid(child, 0)
print("parent:", sandbox.run("print(2)").stdout.strip(), flush=True)
"""


def test_a_forked_child_neither_uses_nor_removes_its_parents_containers():
    label = unique_label()
    owner = start_owner(label, FORK_THEN)
    owner.wait(60)
    out = owner.stdout.read()  # not communicate(): it reads the pipe itself and misses what readline() buffered
    assert out.splitlines() == ["child: SandboxError True", "parent: 2"]
    assert owner.returncode == 0 and containers(label) == []
