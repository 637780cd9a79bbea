"""Vector env with one worker process per env; a worker that dies is restarted, its episode
reported with ``stop_reason="error"``, and the other envs carry on."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import pickle
import time
import traceback
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec

from turngym.envs.errors import TurngymError
from turngym.envs.messages import Action
from turngym.envs.vector.base import StepTuple, VectorAgentEnv, error_step
from turngym.envs.vector.sync import step_env


def _worker(conn: Connection, spec: EnvSpec, record_to: str | None) -> None:
    import turngym  # noqa: F401  (registers the built-in envs in this process)

    env = None
    try:
        try:
            try:
                env = gym.make(spec)
            except (TypeError, ValueError) as exc:
                from turngym.envs.registration import env_argument_error

                raise env_argument_error(spec.id, exc) from exc
            if record_to is not None:
                from turngym.envs.recording import RecordEpisodes

                env = RecordEpisodes(env, record_to)
        except Exception as exc:  # the env cannot be made here: tell the parent why, then exit
            conn.send(("raise", _portable(exc)))
            return
        conn.send(("ok", None))
        while True:
            command, payload = conn.recv()
            try:
                if command == "reset":
                    result = env.reset(seed=payload[0], options=payload[1])
                elif command == "step":
                    result = step_env(env, payload)
                elif command == "call":
                    name, args, kwargs = payload
                    result = env.get_wrapper_attr(name)(*args, **kwargs)
                elif command == "close":
                    break
                else:
                    raise ValueError(f"unknown worker command {command!r}")
                conn.send(("ok", result))
            except Exception as exc:  # includes a result that does not pickle
                conn.send(("raise", _portable(exc)))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        if env is not None:
            env.close()


def _portable(exc: BaseException) -> tuple[BaseException, str]:
    """``exc`` and its traceback, with ``exc`` replaced by a RuntimeError when it does not round-trip
    through pickle (an exception class whose ``__init__`` takes other arguments, say)."""
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        exc = RuntimeError(f"{type(exc).__qualname__}: {exc}")
    return exc, text


class WorkerDied(TurngymError):
    """A worker process exited or stopped answering."""


class ProcessVectorAgentEnv(VectorAgentEnv):
    """``num_envs`` envs, each in its own process (``start_method`` spawn by default).

    A worker that exits or, with ``step_timeout`` (seconds), does not answer a step in time is
    killed and restarted: its step is reported as truncated with ``stop_reason="error"`` and the
    env needs ``reset``. A worker that dies in ``reset`` or ``call`` is restarted and ``WorkerDied``
    raised; one found dead at ``reset`` is restarted first. Every call waits for every worker it
    addressed before it raises, so the pipes never fall out of step.
    """

    def __init__(
        self,
        spec: EnvSpec,
        num_envs: int,
        autoreset: bool = False,
        start_method: str = "spawn",
        step_timeout: float | None = None,
        record_to: str | None = None,
    ):
        super().__init__(num_envs, autoreset)
        if step_timeout is not None and not step_timeout > 0:
            raise ValueError(f"step_timeout must be a positive number of seconds or None, got {step_timeout!r}")
        self.spec = spec
        self.record_to = record_to
        self.step_timeout = step_timeout
        self.restarts = [0] * num_envs
        self._last: list[tuple[str, int, int]] = [("", 0, 0)] * num_envs  # task id, turn, invalid actions
        self._ctx = mp.get_context(start_method)
        self._workers: list[tuple[Any, Connection]] = []
        try:
            for _ in range(num_envs):
                self._workers.append(self._start())
            self._gather(range(num_envs), timeout=None, restart=False)
        except BaseException:
            self._kill_all()
            raise

    # ---- workers ----
    def _start(self) -> tuple[Any, Connection]:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker, args=(child, self.spec, self.record_to), daemon=True)
        process.start()
        child.close()
        return process, parent

    def _send_all(self, command: str, payloads: dict[int, Any]) -> None:
        """Pickle every message first, so that one that cannot be sent sends none."""
        messages = {}
        for i, payload in payloads.items():
            try:
                messages[i] = ForkingPickler.dumps((command, payload))
            except Exception as exc:
                raise TypeError(f"cannot send {command} to worker {i}: {type(exc).__name__}: {exc}") from exc
        for i, data in messages.items():
            with contextlib.suppress(BrokenPipeError, OSError):  # the receive that follows notices a dead worker
                self._workers[i][1].send_bytes(data)

    def _receive(self, i: int, timeout: float | None, since: float | None = None) -> Any:
        """Worker ``i``'s answer; ``timeout`` counts from ``since`` (when the request was sent), else from now."""
        process, conn = self._workers[i]
        deadline = None if timeout is None else (time.monotonic() if since is None else since) + timeout
        while not conn.poll(0.05):
            if not process.is_alive() and not conn.poll(0):
                raise WorkerDied(f"worker {i} (pid {process.pid}) {_exit_text(process)}")
            if deadline is not None and time.monotonic() > deadline:
                raise WorkerDied(f"worker {i} (pid {process.pid}) did not answer within {timeout} s and was killed")
        try:
            status, result = conn.recv()
        except (EOFError, OSError) as exc:
            process.join(timeout=1)
            raise WorkerDied(f"worker {i} (pid {process.pid}) {_exit_text(process)} ({type(exc).__name__})") from None
        if status == "raise":
            exc, text = result
            raise exc from RuntimeError(f"in worker {i}:\n{text}")
        return result

    def _gather(self, indices: Any, timeout: float | None, restart: bool = True) -> dict[int, Any]:
        """Receive one answer from each worker (restarting the dead ones), then raise the first error."""
        results, errors, dead = {}, [], []
        for i in indices:
            try:
                results[i] = self._receive(i, timeout)
            except WorkerDied as exc:
                errors.append(exc)
                dead.append(i)
            except Exception as exc:
                errors.append(exc)
        if restart and dead:
            self._restart(dead, errors)
        if errors:
            raise errors[0]
        return results

    def _restart(self, indices: list[int], errors: list[Exception] | None = None) -> None:
        """Kill these workers where they still run and start new ones, all at once; their envs need ``reset``.

        A new worker that fails to start is left dead (the next call finds it so); its error is
        appended to ``errors``, or raised when ``errors`` is None.
        """
        for i in indices:
            process, conn = self._workers[i]
            if process.is_alive():
                process.kill()
        for i in indices:
            process, conn = self._workers[i]
            process.join(timeout=5)
            conn.close()
            self.restarts[i] += 1
            self._needs_reset.add(i)
            self._workers[i] = self._start()
        failures = []
        for i in indices:
            try:
                self._receive(i, timeout=None)
            except Exception as exc:
                failures.append(exc)
        if errors is not None:
            errors.extend(failures)
        elif failures:
            raise failures[0]

    def _kill_all(self) -> None:
        for process, conn in self._workers:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)
            conn.close()

    # ---- backend primitives ----
    def _reset_many(self, requests: dict[int, tuple[int | None, dict | None]]) -> dict[int, Any]:
        dead = [i for i in requests if not self._workers[i][0].is_alive()]
        if dead:  # they died between calls: start over
            self._restart(dead)
        self._send_all("reset", requests)
        results = self._gather(requests, timeout=None)
        for i, (_, info) in results.items():
            self._last[i] = (info["task_id"], info["turn"], info["invalid_actions"])
        return results

    def _step_many(self, actions: dict[int, Action]) -> dict[int, StepTuple]:
        self._send_all("step", actions)
        sent = time.monotonic()  # every worker got its action now: one deadline for all
        results, errors, dead = {}, [], []
        for i in actions:
            try:
                results[i] = self._receive(i, timeout=self.step_timeout, since=sent)
            except WorkerDied as exc:
                dead.append(i)
                task_id, turn, invalid = self._last[i]
                results[i] = error_step(f"{exc}; the worker was restarted", task_id, turn + 1, invalid)
            except Exception as exc:  # ResetNeeded and other misuse: raised once every worker answered
                errors.append(exc)
            else:
                info = results[i][4]
                self._last[i] = (info["task_id"], info["turn"], info["invalid_actions"])
        if dead:
            self._restart(dead, errors)
        if errors:
            raise errors[0]
        return results

    def _call_many(self, requests: dict[int, tuple[str, tuple, dict]]) -> dict[int, Any]:
        self._send_all("call", requests)
        return self._gather(requests, timeout=None)

    def _fork_many(self, sources: dict[int, list[int]]) -> None:
        """The source's episode travels as ``AgentEnv.export_episode()`` (its state and RNGs) to each destination."""
        self._fork_by_export(sources, "worker processes")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for i, (process, _) in enumerate(self._workers):
            if process.is_alive():
                self._send_all("close", {i: None})
        for process, conn in self._workers:
            process.join(timeout=10)  # the worker closes its env (and flushes its recorder) first
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
        super().close()

    def __del__(self) -> None:
        if not getattr(self, "closed", True) and hasattr(self, "_workers"):
            with contextlib.suppress(Exception):
                self.close()


def _exit_text(process: Any) -> str:
    code = process.exitcode
    if code is None:
        return "closed its pipe"
    if code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"
