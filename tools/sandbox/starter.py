"""``start_soon``: run a function on this process's one long-lived starter thread, where spares are started.

Spares start ahead of their calls, off the caller's thread, and must not start on a thread that ends: bwrap's
``--die-with-parent`` (``PR_SET_PDEATHSIG``) fires when the *thread* that started bwrap exits, not the process. A
spare started on a short-lived thread was SIGKILLed whenever that thread ended after bwrap had armed the signal,
sometimes in the middle of the call that had taken it. The starter thread lives as long as the process (a daemon,
so the spares still die with the process), and a forked child starts its own.
"""

from __future__ import annotations

import os
import queue
import threading
import traceback
from collections.abc import Callable
from typing import Any

THREAD_NAME = "sandbox-spares"

_lock = threading.Lock()
_jobs: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]]] | None = None


def start_soon(function: Callable[..., Any], *args: Any) -> None:
    """Run ``function(*args)`` on the starter thread (started on first use); an exception is printed, not raised."""
    global _jobs
    with _lock:
        if _jobs is None:
            _jobs = queue.Queue()
            threading.Thread(target=_serve, args=(_jobs,), name=THREAD_NAME, daemon=True).start()
        _jobs.put((function, args))


def wait_idle() -> None:
    """Block until everything given to ``start_soon`` so far has run."""
    with _lock:
        jobs = _jobs
    if jobs is not None:
        jobs.join()


def _serve(jobs: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
    while True:
        function, args = jobs.get()
        try:
            function(*args)
        except Exception:
            traceback.print_exc()
        finally:
            jobs.task_done()


def _forget_in_child() -> None:
    """A forked child has no starter thread (only the forking thread survives a fork), and the lock may be held."""
    global _lock, _jobs
    _lock, _jobs = threading.Lock(), None


os.register_at_fork(after_in_child=_forget_in_child)
