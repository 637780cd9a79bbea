"""The docker sandbox on a real dockerd: locked-down containers, warm calls, threads, independent calls, replaced workers.

Hostile code (bombs, floods, escapes) is in test_sandbox_security.py, which runs over every backend.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sandbox_docker_helpers import client, containers, unique_label, wait_until

from turngym.tools.sandbox import Limits, SandboxError, make_sandbox
from turngym.tools.sandbox import docker as docker_backend
from turngym.tools.sandbox.docker import DockerSandbox
from turngym.tools.sandbox.docker_pool import MEMORY_HEADROOM_MB

pytestmark = pytest.mark.docker

WHERE = "import socket\nprint(socket.gethostname())"  # a container's hostname is its short id


@pytest.fixture(scope="module")
def sandbox():
    with make_sandbox("docker", label=unique_label()) as sandbox:
        yield sandbox


@pytest.fixture
def single():
    """A sandbox of exactly one container, so consecutive calls share it."""
    with DockerSandbox(pool_size=1, max_containers=1, label=unique_label()) as sandbox:
        yield sandbox


def test_runs_as_nobody_in_an_empty_dir_without_network(sandbox):
    code = (
        "import os, socket\n"
        "print(os.getuid(), os.getgid(), os.listdir('.'))\n"
        "print(sorted(name for _, name in socket.if_nameindex()))\n"
        "try:\n    open('/etc/x', 'w')\nexcept OSError as exc:\n    print(exc.errno)\n"
    )
    result = sandbox.run(code)
    assert (result.stdout, result.error, result.exit_code) == ("65534 65534 []\n['lo']\n30\n", None, 0), result  # 30: EROFS
    isolation = sandbox.isolation
    assert (isolation["method"], isolation["network"], isolation["user"]) == ("docker", "none", "65534")
    assert isolation["filesystem"] == "read-only root, tmpfs work dir"


def test_containers_are_locked_down_and_labelled(sandbox):
    import os

    (container, *_) = containers(sandbox.label, owner_pid=os.getpid())
    host, config = container.attrs["HostConfig"], container.attrs["Config"]
    limits = sandbox.limits
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
    assert host["Memory"] == host["MemorySwap"] == (limits.memory_mb + MEMORY_HEADROOM_MB) * 2**20
    assert host["PidsLimit"] == limits.processes + 1 and host["NanoCpus"] == 10**9
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
    assert set(host["Tmpfs"]) == {"/work", "/tmp"} and config["User"] == "65534:65534"
    assert config["Labels"][f"{sandbox.label}.owner-pid"] == str(os.getpid())


def test_a_call_with_other_memory_runs_under_that_cgroup_limit(sandbox):
    code = (
        "import os\n"
        "for path in ('/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory.max'):\n"
        "    if os.path.exists(path):\n"
        "        print(open(path).read().strip())\n"
    )
    result = sandbox.run(code, limits=Limits(memory_mb=96))
    assert result.stdout == f"{(96 + MEMORY_HEADROOM_MB) * 2**20}\n", result
    assert sandbox.run(code).stdout == f"{(sandbox.limits.memory_mb + MEMORY_HEADROOM_MB) * 2**20}\n"


@pytest.mark.slow
def test_warm_calls_take_milliseconds_and_cold_ones_do_not(sandbox):
    assert sandbox.run("print(1)").stdout == "1\n"
    warm = []
    for _ in range(15):
        time.sleep(0.2)  # an agent's turn between calls: the next launcher is up by then
        started = time.monotonic()
        assert sandbox.run("print(1)").stdout == "1\n"
        warm.append(time.monotonic() - started)
    cold = []
    for _ in range(3):
        started = time.monotonic()
        assert sandbox.run_cold("print(1)").stdout == "1\n"
        cold.append(time.monotonic() - started)
    assert statistics.median(warm) < 0.05, warm
    assert statistics.median(warm) * 3 < statistics.median(cold), (warm, cold)


@pytest.mark.slow
def test_eight_threads_share_a_pool_that_grows_to_its_maximum():
    label = unique_label()
    with DockerSandbox(pool_size=2, max_containers=4, label=label) as sandbox:
        code = "import sys, time\ntime.sleep(0.5)\nprint(sys.stdin.read() * 2)"
        started = time.monotonic()
        with ThreadPoolExecutor(8) as threads:
            results = list(threads.map(lambda i: sandbox.run(code, stdin=f"<{i}>"), range(16)))
        elapsed = time.monotonic() - started
        assert [r.stdout for r in results] == [f"<{i}><{i}>\n" for i in range(16)]
        assert elapsed < 16 * 0.5 * 0.75  # calls overlapped
        assert len(containers(label)) == 4  # grew from 2 to the maximum, not beyond


def test_calls_in_one_container_leave_nothing_for_the_next(single):
    leave = (
        "import os, socket, subprocess\n"
        "for path in ('/tmp/left', '/dev/shm/left', 'left', '/work/left'):\n"
        "    open(path, 'w').write('x')\n"
        "subprocess.Popen(['sleep', '30'], start_new_session=True)\n"
        "print(socket.gethostname())\n"
    )
    look = (
        "import os, socket\n"
        "others = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid())]\n"
        "print(socket.gethostname())\n"
        "alone = os.listdir('/work') == [os.path.basename(os.getcwd())]\n"
        "print(others, os.listdir('/tmp'), os.listdir('/dev/shm'), os.listdir('.'), alone)\n"
    )
    first = single.run(leave)
    second = single.run(look)
    assert first.error is None and second.error is None, (first, second)
    host, state = second.stdout.splitlines()
    assert host == first.stdout.strip()  # the same container
    assert state == "[] [] [] [] True"


LOCK_UP = """
import os
for _ in range(1500):  # deeper than Python's recursion limit
    os.mkdir('d')
    os.chdir('d')
os.chmod('.', 0)
os.makedirs('/tmp/a/b')
os.chmod('/tmp/a/b', 0)
os.chmod('/tmp/a', 0)
os.chmod('/tmp', 0)
os.chmod('/work', 0)
print('locked')
"""


def test_files_the_code_locks_or_buries_are_still_removed(single):
    look = (
        "import os, socket\n"
        "print(socket.gethostname(), oct(os.stat('/tmp').st_mode), os.listdir('/tmp'), len(os.listdir('..')))\n"
    )
    before = single.run(WHERE).stdout.strip()
    assert single.run(LOCK_UP).stdout == "locked\n"
    assert single.run(look).stdout == f"{before} 0o41777 [] 1\n"  # the same container, clean


def test_a_container_that_died_while_idle_is_replaced_before_the_next_call(single):
    before = single.run(WHERE).stdout.strip()
    with client() as docker_client:
        docker_client.containers.get(before).kill()
    assert wait_until(lambda: all(c.short_id != before[:10] for c in containers(single.label)), 10)
    result = single.run(WHERE)
    assert result.error is None and result.stdout.strip() not in ("", before), result


def test_killing_from_inside_does_not_reach_the_worker(single):
    before = single.run(WHERE).stdout
    for code in ("import os\nos.kill(1, 9)\nprint('after')", "import os\nos.kill(-1, 9)\nprint('after')"):
        result = single.run(code)
        assert result.error in (None, "killed"), result
    assert single.run(WHERE).stdout == before  # PID 1 ignores signals from inside its namespace


def test_a_container_killed_during_a_call_is_replaced(single):
    before = single.run(WHERE).stdout.strip()
    outcome = {}
    call = threading.Thread(target=lambda: outcome.setdefault("result", single.run("import time\ntime.sleep(30)")))
    call.start()
    time.sleep(1.0)
    with client() as docker_client:
        docker_client.containers.get(before).kill()
    call.join(20)
    result = outcome["result"]
    assert (result.error, result.exit_code) == ("killed", None), result
    assert "worker died" in result.message
    after = single.run(WHERE)
    assert after.error is None and after.stdout.strip() not in ("", before), after
    assert wait_until(lambda: all(c.short_id != before[:10] for c in containers(single.label)), 10)


def test_a_worker_that_does_not_answer_times_out_and_is_replaced(single, monkeypatch):
    monkeypatch.setattr(docker_backend, "CALL_GRACE_S", 1.0)
    before = single.run(WHERE).stdout.strip()
    with client() as docker_client:
        docker_client.containers.get(before).pause()  # frozen: the worker cannot answer
    started = time.monotonic()
    result = single.run("print(1)", limits=Limits(wall_seconds=0.5))
    assert (result.error, result.exit_code) == ("timeout", None), result
    assert "did not answer" in result.message and time.monotonic() - started < 10
    after = single.run(WHERE)
    assert after.error is None and after.stdout.strip() != before, after


def test_cold_runs_leave_no_container(sandbox):
    import os

    count = len(containers(sandbox.label, owner_pid=os.getpid()))
    result = sandbox.run_cold("import sys\nprint(sys.stdin.read().upper())", stdin="cold", files={"a.txt": "x"})
    assert (result.stdout, result.error) == ("COLD\n", None), result
    assert len(containers(sandbox.label, owner_pid=os.getpid())) == count


def test_bad_arguments_are_rejected_before_anything_runs(sandbox):
    with pytest.raises(TypeError, match="code: expected str, got bytes"):
        sandbox.run(b"print(1)")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected relative paths inside the work dir, got '../x'"):
        sandbox.run("pass", files={"../x": "y"})
    with pytest.raises(TypeError, match=r"files\['a'\]: expected str or bytes, got int"):
        sandbox.run("pass", files={"a": 1})  # type: ignore[dict-item]


def test_close_removes_the_containers_and_ends_the_sandbox():
    label = unique_label()
    sandbox = DockerSandbox(pool_size=2, label=label)
    assert sandbox.run("print(2)").stdout == "2\n"
    assert len(containers(label)) >= 1
    sandbox.close()
    sandbox.close()  # twice is fine
    assert wait_until(lambda: containers(label) == [], 10), containers(label)
    with pytest.raises(SandboxError, match="closed"):
        sandbox.run("print(3)")
