"""Hostile code against every sandbox backend: each attack is contained, the call returns a clear error or result,
the host and another sandbox keep working, and the limits hold within 10 % (durations: 10 % plus WALL_OVERHEAD_S for
starting and tearing down the call).

Where the local backend runs without bubblewrap (``local-rlimits``), what it cannot prevent (host network, host
paths its uid may write) is asserted to be reported by ``isolation`` instead."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_backends import Backend, backend_fixture, host_processes_with

from turngym.tools.sandbox import Limits

WALL_OVERHEAD_S = 0.5  # interpreter start, kill and teardown on top of a wall-clock limit
ISOLATED_NETWORKS = ("none", "loopback-only")

backend = backend_fixture()


def runs_as_caller(backend: Backend) -> bool:
    """rlimits-only as a non-root user: the code is the caller's uid, so the caller's files and processes are its."""
    return backend.sandbox.isolation["method"] == "rlimits-only" and os.geteuid() != 0


def namespaced(backend: Backend) -> bool:
    return backend.sandbox.isolation["method"] != "rlimits-only"


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A host folder anyone may write, under the host's /tmp (so a sandbox that sees the host could write it)."""
    path = Path(tempfile.mkdtemp(prefix="turngym-host-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --- processes -------------------------------------------------------------------------------------------------------

FORK_COUNT = """
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as exc:
    print(children, exc.errno)
"""


def test_process_limit_holds(backend):
    limit = 40
    result = backend.sandbox.run(FORK_COUNT, limits=Limits(processes=limit, wall_seconds=20))
    assert result.error is None, result
    children, errno = map(int, result.stdout.split())
    assert errno == 11  # EAGAIN: the limit, not something else
    assert 0.9 * limit - 3 <= children < limit  # the launcher and its interpreter count too
    backend.assert_still_works()


@pytest.mark.slow
def test_fork_bomb_is_contained(backend):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    started = time.monotonic()
    result = backend.sandbox.run(bomb, limits=Limits(wall_seconds=2, cpu_seconds=29.87654))  # a token in its command line
    assert time.monotonic() - started < 2 * 1.1 + WALL_OVERHEAD_S + 1  # killing every fork may take a moment
    assert (result.error, result.exit_code) == ("timeout", None), result
    assert "wall clock" in result.message
    if backend.local:
        time.sleep(0.2)
        assert host_processes_with("29.87654") == []
    backend.assert_still_works()


# --- memory ----------------------------------------------------------------------------------------------------------


def test_memory_bomb_fails_and_most_of_the_limit_works(backend):
    mb = 256
    too_much = backend.sandbox.run(f"data = b'x' * ({2 * mb} * 2**20)\nprint('allocated')", limits=Limits(memory_mb=mb))
    assert too_much.error == "memory" and "allocated" not in too_much.stdout, too_much
    assert str(mb) in too_much.message
    fits = backend.sandbox.run(f"data = b'x' * int({0.8 * mb} * 2**20)\nprint(len(data) // 2**20)", limits=Limits(memory_mb=mb))
    assert (fits.stdout, fits.error) == (f"{int(0.8 * mb)}\n", None), fits
    backend.assert_still_works()


@pytest.mark.slow
def test_memory_limit_is_accurate(backend):
    mb = 512
    grow = "chunks = []\nwhile True:\n    chunks.append(b'x' * 2**23)\n    print(8 * len(chunks), flush=True)\n"
    result = backend.sandbox.run(grow, limits=Limits(memory_mb=mb, wall_seconds=30))
    assert result.error == "memory", result
    allocated = int(result.stdout.split()[-1])
    assert 0.85 * mb <= allocated <= mb  # the interpreter's own memory counts against the limit
    backend.assert_still_works()


# --- time ------------------------------------------------------------------------------------------------------------

CPU_CLOCK = """
import time
last = 0.0
while True:
    now = time.process_time()
    if now - last >= 0.05:
        print(round(now, 3), flush=True)
        last = now
"""


@pytest.mark.slow
def test_cpu_limit_stops_an_infinite_loop(backend):
    cpu = 1.0
    result = backend.sandbox.run(CPU_CLOCK, limits=Limits(cpu_seconds=cpu, wall_seconds=20))
    assert (result.error, result.exit_code) == ("timeout", None), result
    assert "CPU" in result.message
    used = float(result.stdout.split()[-1])  # CPU seconds the loop saw last, at most 0.05 s before the end
    assert 0.9 * cpu <= used + 0.05 and used <= 1.1 * cpu
    backend.assert_still_works()


@pytest.mark.slow
@pytest.mark.parametrize("code", ["import time\ntime.sleep(60)", "while True:\n    pass"], ids=["sleep", "busy"])
def test_wall_limit_stops_a_call(backend, code):
    wall = 1.5
    result = backend.sandbox.run(code, limits=Limits(wall_seconds=wall, cpu_seconds=60))
    assert (result.error, result.exit_code, result.message) == ("timeout", None, f"timed out after {wall:g} s wall clock")
    assert 0.9 * wall <= result.duration_s <= 1.1 * wall + WALL_OVERHEAD_S
    backend.assert_still_works()


# --- output ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 2**20)",
        pytest.param("for i in range(10**7):\n    print(i)", marks=pytest.mark.slow),
    ],
    ids=["blocks", "lines"],
)
def test_huge_output_is_truncated_fast_with_bounded_memory(backend, code):
    limits = Limits(output_bytes=65_536, wall_seconds=30)
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = backend.sandbox.run(code, limits=limits)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.truncated and result.error in (None, "output"), result
    assert len(result.stdout.encode()) <= limits.output_bytes
    assert elapsed < 10
    assert peak < 32 * 2**20  # the host never holds the 100 MB
    backend.assert_still_works()


# --- filesystem ------------------------------------------------------------------------------------------------------

WRITE_OUTSIDE = """
import os
for path in {paths!r}:
    try:
        with open(path, "w") as f:
            f.write("owned")
        print("wrote", path)
    except OSError as exc:
        print("refused", path, type(exc).__name__)
"""


def test_writing_outside_the_work_dir_fails(backend, host_dir):
    if runs_as_caller(backend):
        pytest.skip("rlimits-only as the calling user: the code may write whatever the caller may")
    protected_dir = host_dir / "protected"
    protected_dir.mkdir(mode=0o755)
    existing = protected_dir / "existing.txt"
    existing.write_text("original")
    existing.chmod(0o644)
    token = uuid.uuid4().hex
    home = Path.home() / f"turngym-{token}"
    paths = [str(existing), str(protected_dir / "new.txt"), f"/etc/turngym-{token}", str(home), f"/usr/turngym-{token}"]
    result = backend.sandbox.run(WRITE_OUTSIDE.format(paths=paths))
    assert result.error is None and result.stdout.count("refused") == len(paths), result.stdout
    assert existing.read_text() == "original" and os.listdir(protected_dir) == ["existing.txt"]
    assert not Path(f"/etc/turngym-{token}").exists() and not home.exists()
    backend.assert_still_works()


def test_host_tmp_is_not_shared(backend):
    token = uuid.uuid4().hex
    result = backend.sandbox.run(f"open('/tmp/turngym-{token}', 'w').write('x')\nprint('ok')")
    assert result.error is None
    written = Path(f"/tmp/turngym-{token}")
    try:
        if namespaced(backend):
            assert not written.exists()  # a private /tmp
        else:
            assert backend.sandbox.isolation["filesystem"].startswith("host")
    finally:
        written.unlink(missing_ok=True)


READ_SECRETS = """
for path in {paths!r}:
    try:
        print("read", path, open(path).read())
    except OSError as exc:
        print("refused", path, type(exc).__name__)
"""


def test_reading_host_secrets_fails(backend):
    if runs_as_caller(backend):
        pytest.skip("rlimits-only as the calling user: the code may read whatever the caller may")
    token, content = uuid.uuid4().hex, uuid.uuid4().hex
    secrets = [Path.home() / f".turngym-secret-{token}", Path("/work") / f".turngym-secret-{token}"]
    written = []
    for secret in secrets:
        try:
            secret.write_text(content)
        except OSError:
            continue
        secret.chmod(0o600)
        written.append(secret)
    assert written, "could write no secret in the home folder or /work"
    try:
        paths = [str(secret) for secret in written] + ["/etc/shadow"]
        result = backend.sandbox.run(READ_SECRETS.format(paths=paths))
        assert result.error is None and result.stdout.count("refused") == len(paths), result.stdout
        assert content not in result.stdout
    finally:
        for secret in written:
            secret.unlink()


# --- network ---------------------------------------------------------------------------------------------------------

NETWORK_PROBE = """
import socket
print(sorted(name for _, name in socket.if_nameindex()))
with socket.socket() as client:
    client.settimeout(2)
    try:
        client.connect(("127.0.0.1", {port}))
        print("connected")
    except OSError as exc:
        print("failed", type(exc).__name__)
"""


def test_network_is_only_its_own_loopback(backend):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        result = backend.sandbox.run(NETWORK_PROBE.format(port=port))
    assert result.error is None, result
    interfaces, outcome = result.stdout.splitlines()
    network = backend.sandbox.isolation["network"]
    if namespaced(backend):
        assert network in ISOLATED_NETWORKS
        assert interfaces == "['lo']" and outcome.startswith("failed")
    else:
        assert network == "host"  # reported honestly: the host's port is reachable
        assert outcome == "connected" and interfaces != "['lo']"
    backend.assert_still_works()


# --- signals and leftovers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["import os\nos.kill(os.getppid(), 9)", "import os\nos.kill(-1, 9)"], ids=["parent", "all"])
def test_killing_from_inside_hurts_only_the_call(backend, code):
    if runs_as_caller(backend):
        pytest.skip("rlimits-only as the calling user: the code may signal the caller's processes")
    result = backend.sandbox.run(code + "\nprint('after')", limits=Limits(wall_seconds=10))
    assert result.duration_s < 10 and (result.error in (None, "killed", "sandbox")), result
    if result.error is not None:
        assert result.message
    backend.assert_still_works()


OUTLIVE = """
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        script = "sleep 3; echo alive > {host_marker}; echo alive > /tmp/{token}; : {token}"
        os.execv("/bin/sh", ["sh", "-c", script])
    os._exit(0)
print("parent done")
"""


@pytest.mark.slow
def test_nothing_outlives_its_call(backend, host_dir):
    token = f"turngym-outlive-{uuid.uuid4().hex}"
    host_marker = host_dir / "marker"
    result = backend.sandbox.run(OUTLIVE.format(host_marker=host_marker, token=token))
    assert (result.stdout, result.error) == ("parent done\n", None), result
    if backend.local:
        assert host_processes_with(token) == []
    time.sleep(4)
    assert not host_marker.exists()
    assert backend.sandbox.run(f"import os\nprint(os.path.exists('/tmp/{token}'))").stdout == "False\n"
    if backend.local:
        assert host_processes_with(token) == []
    backend.assert_still_works()
