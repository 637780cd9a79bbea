"""The local sandbox: results, files, stdin, error kinds, argument checks, isolation reports, concurrency, cleanup."""

from __future__ import annotations

import doctest
import os
import pickle
import signal
import sys
import tempfile
import threading
import time

import pytest
from sandbox_backends import LOCAL_BACKENDS, host_processes_with, join_background_threads, requires_bubblewrap, sandbox_fixture

import turngym.tools.sandbox.base as sandbox_base
import turngym.tools.sandbox.local as sandbox_local
from turngym.tools.sandbox import Limits, RunResult, SandboxError, make_sandbox
from turngym.tools.sandbox.local import LocalSandbox
from turngym.tools.sandbox.process import parent_pid

sandbox = sandbox_fixture(params=LOCAL_BACKENDS)


def test_prints_and_exit_codes(sandbox):
    result = sandbox.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)")
    assert (result.stdout, result.stderr, result.exit_code, result.error) == ("out\n", "err\n", 3, None)
    assert result.duration_s > 0 and not result.truncated and not result.ok
    assert sandbox.run("print(6 * 7)").ok


def test_traceback_names_the_code_and_shows_the_line(sandbox):
    result = sandbox.run("x = 1\ny = x / 0\n")
    assert result.exit_code == 1 and result.error is None
    assert 'File "<code>", line 2' in result.stderr and "y = x / 0" in result.stderr
    assert result.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "runner" not in result.stderr  # the launcher's own frame is dropped


def test_syntax_error_is_a_normal_exit(sandbox):
    result = sandbox.run("def f(:\n")
    assert result.exit_code == 1 and result.error is None and "SyntaxError" in result.stderr


def test_stdin_files_and_imports_from_the_work_dir(sandbox):
    files = {"data.txt": "a\nb\n", "pkg/helper.py": "VALUE = 41\n", "raw.bin": b"\x00\xff"}
    code = (
        "import os, sys\nfrom pkg.helper import VALUE\n"
        "print(sorted(os.listdir('.')), open('data.txt').read().split(), VALUE + 1, open('raw.bin', 'rb').read())\n"
        "print(sys.stdin.read().upper())"
    )
    result = sandbox.run(code, stdin="hello", files=files)
    assert result.stdout == "['data.txt', 'pkg', 'raw.bin'] ['a', 'b'] 42 b'\\x00\\xff'\nHELLO\n", result.stderr


def test_large_code_and_stdin_pass_through_pipes(sandbox):
    code = "data = " + repr("z" * 300_000) + "\nimport sys\nprint(len(data), len(sys.stdin.read()))"
    result = sandbox.run(code, stdin="s" * 2_000_000)
    assert result.stdout == "300000 2000000\n", result


def test_code_that_ignores_stdin_is_not_blocked_by_it(sandbox):
    assert sandbox.run("print('ignored')", stdin="s" * 2_000_000).stdout == "ignored\n"


@requires_bubblewrap
def test_private_tmp_is_capped():
    box = LocalSandbox(isolation="bubblewrap")
    try:
        code = "for i in range(6):\n    open(f'/tmp/{i}', 'wb').write(b'x' * (15 * 2**20))\n    print(i, flush=True)"
        result = box.run(code)
    finally:
        box.close()
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert result.stdout.split() == ["0", "1", "2", "3"]  # 64 MB hold four files of 15 MB


def test_calls_are_independent(sandbox):
    assert sandbox.run("open('left.txt', 'w').write('x'); import os; print(os.listdir('.'))").stdout == "['left.txt']\n"
    assert sandbox.run("import os; print(os.listdir('.'))").stdout == "[]\n"


def test_main_module_behaves_like_python_c(sandbox):
    code = (
        "import pickle, sys\nclass Point:\n    pass\n"
        "print(__name__, sys.argv, type(pickle.loads(pickle.dumps(Point()))).__name__)"
    )
    assert sandbox.run(code).stdout == "__main__ ['-c'] Point\n"


def test_unicode_round_trips(sandbox):
    assert sandbox.run("print('héllo ✓ 日本')").stdout == "héllo ✓ 日本\n"


def test_output_over_the_cap_is_truncated_not_an_error(sandbox):
    result = sandbox.run("print('y' * 5000)", limits=Limits(output_bytes=1000))
    assert result.truncated and result.error is None and result.exit_code == 0
    assert result.stdout == "y" * 1000


def test_exit_without_cleanup_and_signals(sandbox):
    assert sandbox.run("import os; os._exit(7)").exit_code == 7
    killed = sandbox.run("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert (killed.error, killed.exit_code, killed.message) == ("killed", None, "killed by SIGSEGV")


def test_file_size_limit(sandbox):
    code = "open('big', 'wb').write(b'x' * (3 * 2**20))"
    result = sandbox.run(code, limits=Limits(file_size_mb=1))
    assert result.exit_code == 1 and "File too large" in result.stderr
    assert sandbox.run(code, limits=Limits(file_size_mb=4)).exit_code == 0


def test_concurrent_calls_from_threads(sandbox):
    results: dict[int, RunResult] = {}

    def call(i: int) -> None:
        results[i] = sandbox.run(f"import sys; print({i} * int(sys.stdin.read()))", stdin="3", files={"i": str(i)})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {i: r.stdout for i, r in results.items()} == {i: f"{3 * i}\n" for i in range(8)}


def open_descriptors() -> set[tuple[str, str]]:
    """This process's open descriptors as (number, what it points at): a number reused for something else is new."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:
            continue  # closed since the listing (the listing's own descriptor, say)
    return found


@pytest.mark.parametrize("isolation", ["auto", "rlimits"])
def test_no_leaked_descriptors_processes_or_temp_dirs(isolation, monkeypatch):
    private = tempfile.mkdtemp(prefix="turngym-leaks-")  # the calls' folders go here, apart from other runs'
    os.chmod(private, 0o711)
    monkeypatch.setattr(tempfile, "tempdir", private)
    join_background_threads()  # earlier tests' spares still being started would count as ours
    before = open_descriptors()
    box = LocalSandbox(isolation=isolation, limits=Limits(wall_seconds=0.5, cpu_seconds=4.321))
    for code in ("print(1)", "import time; time.sleep(5)", "print('x' * 10**8)", "import os; os.chmod('.', 0)"):
        box.run(code)
    box.close()
    join_background_threads()
    assert open_descriptors() - before == set()  # earlier tests' sandboxes may close theirs meanwhile, never open ours
    assert os.listdir(private) == []
    assert host_processes_with("4.321") == []
    os.rmdir(private)


def test_spares_start_ahead_and_go_with_close():
    token = 7.654321  # CPU limit as a token in the launcher's command line
    limits = Limits(cpu_seconds=token)
    box = LocalSandbox(limits=limits, spares=2)
    deadline = time.monotonic() + 10
    while len(host_processes_with(str(token))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # a command line reads empty while its process execs
    assert len(host_processes_with(str(token))) >= 2  # started before any call
    assert box.run("print('warm')").stdout == "warm\n"
    assert box.run("print('other limits')", limits=Limits(cpu_seconds=2)).stdout == "other limits\n"
    box.close()
    join_background_threads()
    assert host_processes_with(str(token)) == []
    assert box.run("print('after close')").stdout == "after close\n"
    assert host_processes_with(str(token)) == []  # a closed sandbox keeps no spares


@pytest.mark.parametrize("isolation", ["auto", "rlimits"])
def test_a_spare_outlives_the_thread_that_asked_for_it(monkeypatch, isolation):
    # bwrap's --die-with-parent ties a sandbox to the *thread* that started it: a spare started on a thread that
    # ended during its call was SIGKILLed there (exit status -9 after the code had printed everything)
    refill = LocalSandbox._refill

    def refill_then_linger(self, limits):
        refill(self, limits)
        time.sleep(0.5)  # the thread that started the spare ends while the next call runs

    monkeypatch.setattr(LocalSandbox, "_refill", refill_then_linger)
    box = LocalSandbox(limits=Limits(wall_seconds=10), isolation=isolation)
    assert box.run("print('first')").stdout == "first\n"
    deadline = time.monotonic() + 10
    while not box._idle and time.monotonic() < deadline:  # the spare for the next call is ready
        time.sleep(0.01)
    result = box.run("import time\ntime.sleep(1.5)\nprint('done')")
    assert (result.stdout, result.exit_code, result.error) == ("done\n", 0, None), result
    box.close()


@pytest.mark.parametrize("isolation", ["auto", "rlimits"])
def test_a_launcher_killed_from_outside_during_a_call_is_reported_killed(isolation):
    token = 4.56789
    box = LocalSandbox(limits=Limits(cpu_seconds=token, wall_seconds=20), isolation=isolation, spares=0)
    outcome = {}
    call = threading.Thread(target=lambda: outcome.setdefault("result", box.run("import time\ntime.sleep(15)")))
    call.start()
    deadline = time.monotonic() + 10
    while not (ours := [pid for pid in host_processes_with(str(token)) if parent_pid(pid) == os.getpid()]):
        assert time.monotonic() < deadline, "the call's launcher never showed up"
        time.sleep(0.01)
    time.sleep(1.0)  # the code is running (sleeping) by now
    os.kill(ours[0], signal.SIGKILL)  # bwrap itself, or the rlimits launcher
    call.join(20)
    result = outcome["result"]
    assert (result.error, result.exit_code, result.message) == ("killed", None, "killed by SIGKILL"), result
    box.close()


def test_a_dead_spare_is_replaced():
    token = 6.54321
    box = LocalSandbox(limits=Limits(cpu_seconds=token), isolation="rlimits")
    for pid in host_processes_with(str(token)):
        os.kill(pid, signal.SIGKILL)
    assert box.run("print('fresh')").stdout == "fresh\n"
    box.close()


def test_without_spares_each_call_starts_its_own():
    box = LocalSandbox(spares=0, limits=Limits(cpu_seconds=5.4321))
    assert host_processes_with("5.4321") == []
    assert box.run("print('cold')").stdout == "cold\n"
    with pytest.raises(ValueError, match="spares: expected an integer >= 0, got -1"):
        LocalSandbox(spares=-1)


def test_a_forked_child_starts_its_own_spares():
    box = LocalSandbox()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, box.run("print('child')").stdout.encode())
            box.close()  # must not touch the parent's spares
            join_background_threads()
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        assert pipe.read() == b"child\n"
    os.waitpid(pid, 0)
    assert box.run("print('parent')").stdout == "parent\n"
    box.close()


def test_isolation_reports_what_is_in_force():
    forced = LocalSandbox(isolation="rlimits")
    assert forced.isolation["method"] == "rlimits-only" and forced.isolation["network"] == "host"
    auto = LocalSandbox()
    if auto.isolation["method"] == "bubblewrap":
        assert auto.isolation["network"] == "loopback-only" and "fallback" not in auto.isolation
        assert auto.run("import os; print(os.getuid(), os.getcwd())").stdout == "65534 /sandbox\n"
    else:
        assert auto.isolation["network"] == "host" and auto.isolation["fallback"].startswith("bubblewrap not used")


def test_missing_interpreter_is_a_sandbox_error():
    with pytest.raises(SandboxError, match="expected '/nonexistent/bin/python3'"):
        LocalSandbox(python="/nonexistent/bin/python3")
    with pytest.raises(SandboxError, match="expected 'no-such-python' on /usr/local/bin:/usr/bin:/bin"):
        LocalSandbox(python="no-such-python")


@requires_bubblewrap
def test_bubblewrap_required_but_unusable_is_a_sandbox_error():
    outside = os.path.realpath(sys.executable)
    if outside.startswith("/usr/"):
        pytest.skip(f"needs an interpreter outside /usr; the test runs on {outside}")
    with pytest.raises(SandboxError, match="bubblewrap isolation is not available here: .* outside /usr"):
        LocalSandbox(python=outside, isolation="bubblewrap")


def test_bubblewrap_required_but_not_installed_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox_local, "SYSTEM_PATH", str(tmp_path))  # where bwrap is looked up: an empty folder
    monkeypatch.setattr(sandbox_local, "_probe_results", {})  # and no answer remembered from the real one
    expected = r"bubblewrap isolation is not available here: bwrap is not installed \(Debian: apt-get install bubblewrap\)"
    with pytest.raises(SandboxError, match=expected):
        LocalSandbox(python=sys.executable, isolation="bubblewrap")


def test_argument_errors():
    box = LocalSandbox(isolation="rlimits")
    with pytest.raises(ValueError, match="isolation: expected one of 'auto', 'bubblewrap', 'rlimits', got 'vm'"):
        LocalSandbox(isolation="vm")
    with pytest.raises(TypeError, match="limits: expected a Limits, got dict"):
        LocalSandbox(limits={"cpu_seconds": 1})
    with pytest.raises(TypeError, match="code: expected str, got bytes"):
        box.run(b"print(1)")
    for name in ("../escape.txt", "/etc/x", ""):
        with pytest.raises(ValueError, match="files: expected relative paths inside the work dir"):
            box.run("pass", files={name: "x"})
    with pytest.raises(TypeError, match=r"files\['a'\]: expected str or bytes, got int"):
        box.run("pass", files={"a": 1})


def test_limits_validation():
    with pytest.raises(ValueError, match="Limits.wall_seconds: expected a number >= 0.01, got -1"):
        Limits(wall_seconds=-1)
    with pytest.raises(TypeError, match="Limits.processes: expected an integer, got float 2.5"):
        Limits(processes=2.5)
    assert Limits().replace(memory_mb=256).memory_mb == 256
    assert pickle.loads(pickle.dumps(Limits(cpu_seconds=2))) == Limits(cpu_seconds=2)


def test_make_sandbox():
    assert isinstance(make_sandbox("local", isolation="rlimits"), LocalSandbox)
    with pytest.raises(ValueError, match="sandbox kind: expected one of 'local', 'docker', got 'vm'"):
        make_sandbox("vm")


@pytest.mark.parametrize("module", [sandbox_base, sandbox_local])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
