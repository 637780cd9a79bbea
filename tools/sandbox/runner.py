"""The launcher that runs inside the sandbox (``python3 -I -B -c <this file> CODE_FD STATUS_FD LIMITS...``): it sets
the limits, then runs the code as ``__main__`` with the work dir on ``sys.path``, and reports on a status pipe what
the host cannot see from an exit code. Standard library only (it runs under any python3 >= 3.8), and only modules
that load fast: every call pays for its imports.

Status bytes: ``R`` limits set and code about to run, ``M`` the code died of MemoryError, ``D<pid>`` the
interpreter exited by itself (not killed by a signal).
"""

import _signal  # the C module: ``signal`` would import enum
import atexit
import math
import os
import resource
import sys
import types

CODE_NAME = "<code>"  # the file name tracebacks show; linecache holds its source, so lines are shown too


def _set_limits(cpu_seconds: float, memory_bytes: int, processes: int, file_size_bytes: int, open_files: int) -> None:
    hard_cpu = math.ceil(cpu_seconds) + 1  # SIGXCPU at the soft limit, SIGKILL one second later if it is ignored
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(cpu_seconds), hard_cpu))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_bytes, file_size_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # RLIMIT_CPU counts whole seconds; a profiling timer ends the process at the exact CPU time.
    _signal.signal(_signal.SIGPROF, _signal.SIG_DFL)
    _signal.setitimer(_signal.ITIMER_PROF, cpu_seconds)


def _report(status_fd: int, message: bytes) -> None:
    try:  # noqa: SIM105 (contextlib costs an import)
        os.write(status_fd, message)
    except OSError:
        pass


def main() -> None:
    code_fd, status_fd = int(sys.argv[1]), int(sys.argv[2])
    os.set_inheritable(status_fd, False)
    runner_pid = os.getpid()
    atexit.register(lambda: os.getpid() == runner_pid and _report(status_fd, b"D%d" % runner_pid))
    _set_limits(float(sys.argv[3]), *map(int, sys.argv[4:]))
    with os.fdopen(code_fd, "rb") as code_file:
        source = code_file.read().decode("utf-8", "surrogateescape")
    _report(status_fd, b"R")

    import linecache

    linecache.cache[CODE_NAME] = (len(source), None, source.splitlines(True), CODE_NAME)
    sys.argv = ["-c"]
    sys.path.insert(0, os.getcwd())
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = module
    try:
        exec(compile(source, CODE_NAME, "exec"), module.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        if isinstance(exc, MemoryError):
            _report(status_fd, b"M")
        import traceback

        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # drop this launcher's frame
        traceback.print_exception(type(exc), exc, tb)
        sys.exit(1)


if __name__ == "__main__":
    main()
