"""A real multi-node Ray cluster on this machine: a head and two worker nodes, each started by
``ray start`` in its own process group. Rollouts through ``Engine`` spread over the nodes; one worker
node is killed mid-rollout (its raylet, agents and actor processes, by process group). The episodes
it held end as errors and are reported, their seeds are played again, no finished episode is lost,
and the run completes on the surviving nodes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import turngym
from turngym.agents import ScriptedPolicy
from turngym.engine import Engine
from turngym.envs.info import StopReason

ray = pytest.importorskip("ray", reason="the Ray vector env needs the [ray] extra")
pytestmark = [pytest.mark.slow, pytest.mark.ray]

GUESS = "turngym/GuessNumber-v0"
# node death is noticed after period x threshold (Ray's defaults: 3 s x 5)
FAST_FAILURE = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "4", "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every process, from /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            table[int(stat.parent.name)] = (int(fields[1]), int(fields[2]))
    return table


def _descendants(roots: set[int]) -> set[int]:
    table, found = _processes(), set(roots)
    while True:
        more = {pid for pid, (parent, _) in table.items() if parent in found} - found
        if not more:
            return found
        found |= more


class Cluster:
    """Ray nodes started by this test; each is its own process group, so it is stopped alone (never ``ray stop``)."""

    def __init__(self) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="tgray")  # short: Ray's socket paths have a length limit
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.groups: dict[str, int] = {}  # node resource name -> process group id
        self.env = {**os.environ, **FAST_FAILURE}

    def start(self, name: str, head: bool = False) -> None:
        where = ["--head", f"--port={self.port}", f"--temp-dir={self.temp_dir}"] if head else [f"--address={self.address}"]
        command = ["ray", "start", *where, "--num-cpus=1", f'--resources={{"{name}": 1}}', "--disable-usage-stats"]
        if head:
            command.append("--include-dashboard=false")
        process = subprocess.Popen(
            command, env=self.env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.groups[name] = process.pid  # the node's daemons stay in this process group after `ray start` exits
        out, _ = process.communicate(timeout=240)
        assert process.returncode == 0, out.decode(errors="replace")[-2000:]

    def kill(self, name: str) -> None:
        """SIGKILL the node: its process group (raylet, agents) and every process they started (the actor
        workers, which Ray puts in process groups of their own), as when a machine is lost."""
        group = self.groups.pop(name)
        doomed = _descendants({pid for pid, (_, pgid) in _processes().items() if pgid == group})
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        for name in list(self.groups):
            self.kill(name)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    nodes = Cluster()
    try:
        nodes.start("head", head=True)
        nodes.start("node_b")
        nodes.start("node_c")
        yield nodes
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        nodes.stop()


def binary_search(conversation) -> str:
    """GuessNumber from the conversation alone (no call to the envs): halve the range after each reply."""
    low, high = 1, int(re.search(r"from 1 to (\d+)", conversation[1]["content"]).group(1))
    guess = None
    for message in conversation[2:]:
        if message["role"] == "assistant":
            guess = int(re.search(r"<guess>(\d+)</guess>", message["content"]).group(1))
        elif guess is not None and message["content"].startswith("Higher"):
            low = guess + 1
        elif guess is not None and message["content"].startswith("Lower"):
            high = guess - 1
    return f"<guess>{(low + high) // 2}</guess>"


def node_resource(node_id: str) -> str:
    node = next(n for n in ray.nodes() if n["NodeID"] == node_id)
    return next(name for name in ("head", "node_b", "node_c") if name in node["Resources"])


def test_a_lost_node_ends_its_episodes_as_errors_and_their_seeds_are_replayed(cluster):
    ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 3
    driver_node = node_resource(ray.get_runtime_context().get_node_id())
    vec = turngym.make_vec(GUESS, 6, mode="ray", ray={"num_actors": 3})
    try:
        homes = [node_resource(node) for node in vec.nodes]
        assert sorted(homes) == ["head", "node_b", "node_c"]  # SPREAD: one actor per node
        victim = next(name for name in ("node_b", "node_c") if name != driver_node)
        lost_actor = homes.index(victim)
        lost_envs = [i for i in range(6) if i % 3 == lost_actor]

        calls = 0

        def policy(conversation):
            nonlocal calls
            calls += 1
            if calls == 40:  # mid-rollout: the first seeds have finished, others are running
                cluster.kill(victim)
            return binary_search(conversation)

        seen = []
        seeds = list(range(100, 124))
        start = time.monotonic()
        episodes = Engine(vec, ScriptedPolicy(policy)).play(seeds, on_episode=seen.append, retry_errors=2)
        elapsed = time.monotonic() - start
    finally:
        vec.close()

    errors = [e for e in seen if e.stop_reason == StopReason.ERROR]
    finished_before = [e for e in seen[: seen.index(errors[0])] if e.stop_reason != StopReason.ERROR] if errors else []
    # the node's episodes were reported as errors, naming the lost actor
    assert 1 <= len(errors) <= len(lost_envs), [e.error for e in errors]
    assert all(f"Ray actor {lost_actor}" in e.error for e in errors), [e.error for e in errors]
    # every seed has one episode in the result, and it is a success: the broken ones were played again
    assert [e.seed for e in episodes] == seeds
    assert all(e.success and e.stop_reason == StopReason.ANSWERED for e in episodes)
    assert {e.seed for e in errors} <= {e.seed for e in seen if e.success}
    # no episode that finished is lost: those finished before the kill are the result's own
    assert finished_before and all(any(e is f for e in episodes) for f in finished_before)
    assert len(seen) == len(seeds) + len(errors)
    assert vec.restarts[lost_envs[0]] >= 1 and all(vec.restarts[i] == 0 for i in range(6) if i not in lost_envs)
    alive = [node_resource(n["NodeID"]) for n in ray.nodes() if n["Alive"]]
    assert victim not in alive and len(alive) == 2
    assert elapsed < 120
