"""The launcher that runs inside the sandbox (``python3 -I -S -B -c <this file> CODE_FD STATUS_FD LIMITS...``): it
sets the limits, loads what running code needs, reads the code from CODE_FD until EOF (a launcher may be started
before its code exists), runs it as ``__main__`` with the work dir on ``sys.path``, and reports on a status pipe what
the host cannot see from an exit code. Standard library only (it runs under any python3 >= 3.8).

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

CODE_NAME = "<code>"  # the file name tracebacks show; linecache gets its source, so lines are shown too


class _SourceOnDemand:
    """A meta path entry: on the first ``import linecache`` (a traceback, a warning), load it and give it the code's
    source so tracebacks show lines. Code that never needs linecache never pays for its imports (tokenize, re, ...)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.module: types.ModuleType | None = None

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        if name != "linecache":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec("linecache")
        self.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.module.cache[CODE_NAME] = (len(self.source), None, self.source.splitlines(True), CODE_NAME)
        return importlib.util.spec_from_loader("linecache", self)

    def create_module(self, spec: object) -> types.ModuleType | None:
        return self.module  # the module loaded above: importing it again would drop the source

    def exec_module(self, module: types.ModuleType) -> None:
        pass


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
    import site  # under -S nothing of it ran: add its package folders and exit()/quit(), without running .pth files

    sys.path.extend(path for path in site.getsitepackages() if os.path.isdir(path))
    site.setquit()
    with os.fdopen(code_fd, "rb") as code_file:
        source = code_file.read().decode("utf-8", "surrogateescape")
    _report(status_fd, b"R")
    if "linecache" in sys.modules:  # preloaded by whoever started this launcher
        sys.modules["linecache"].cache[CODE_NAME] = (len(source), None, source.splitlines(True), CODE_NAME)
    else:
        sys.meta_path.insert(0, _SourceOnDemand(source))
    sys.argv = ["-c"]
    sys.path.insert(0, os.getcwd())
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = module
    try:
        exec(compile(source, CODE_NAME, "exec"), module.__dict__)
        status = 0
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except BaseException as exc:
        if isinstance(exc, MemoryError):
            _report(status_fd, b"M")
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # drop this launcher's frame
        try:
            _print_exception(exc, tb)
        except MemoryError:  # the code still holds what it allocated: let go of it and try again
            module.__dict__.clear()
            _print_exception(exc, tb)
        status = 1
    _finish(status)


def _print_exception(exc: BaseException, tb: object) -> None:
    if sys.excepthook is sys.__excepthook__:
        import traceback

        traceback.print_exception(type(exc), exc, tb)  # the pure-Python printer reads linecache: source lines show
    else:
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def _exit_status(code: object) -> int:
    """The exit status ``SystemExit(code)`` gives, as the interpreter computes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code if -(2**31) <= code < 2**31 else 1
    print(code, file=sys.stderr)
    return 1


def _finish(status: int) -> None:
    """Do what the interpreter's exit does that anyone can see (wait for threads, run atexit, flush), then skip the
    rest: tearing down the modules costs more than running a small program."""
    if "threading" in sys.modules:
        import threading

        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (contextlib costs an import)
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(status)


if __name__ == "__main__":
    main()
