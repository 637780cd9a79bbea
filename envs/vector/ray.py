"""Vector env over Ray actors: groups of envs spread over a cluster's nodes; a lost actor or node ends
only the episodes it held (``stop_reason="error"``), and Ray restarts the actor.

Env ``i`` lives in actor ``i % num_actors`` (round robin, so any subset the engine steps spreads over
the actors). An actor is a small sync vector env: one call steps its share of a vector step with
``prefetch_batch`` then ``step_env``, as ``SyncVectorAgentEnv`` does, and every actor's call is in
flight at once (``ray.wait``), so a vector step runs ``num_actors`` ways at once. ``max_concurrency``
is Ray's own actor option, set explicitly: an actor's share is cut into that many calls, served on
that many threads. Measured on 2 cores, 64 MultiHopQA envs over HTTP retrieval: 2 actors with
max_concurrency 1, 4, 8: 575, 538, 726 steps/s; 8 actors with 1: 2,252. Threads gain little even
where envs wait on I/O: give I/O-bound envs more actors than CPUs, not more threads.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

from gymnasium.envs.registration import EnvSpec

from turngym.envs.messages import Action
from turngym.envs.vector.base import StepTuple, VectorAgentEnv, error_step
from turngym.envs.vector.process import WorkerDied, _portable
from turngym.envs.vector.sync import prefetch_batch, step_env

LOST = "lost"  # an actor's answer for an env whose episode it does not hold (the actor was restarted)


class EnvGroup:
    """The actor: ``size`` envs of ``spec``, stepped one after another (``ray.remote`` is applied by the vector env)."""

    def __init__(self, spec: EnvSpec, size: int, record_to: str | None):
        self.incarnation = uuid.uuid4().hex  # a restarted actor has a new one: the driver learns its episodes are gone
        self.envs: list[Any] = []
        self.running: set[int] = set()  # envs with an episode begun in this incarnation
        self.failure: tuple[BaseException, str] | None = None
        try:
            import gymnasium as gym

            import turngym  # noqa: F401  (registers the built-in envs in this process)

            for _ in range(size):
                try:
                    env = gym.make(spec)
                except (TypeError, ValueError) as exc:
                    from turngym.envs.registration import env_argument_error

                    raise env_argument_error(spec.id, exc) from exc
                if record_to is not None:
                    from turngym.envs.recording import RecordEpisodes

                    env = RecordEpisodes(env, record_to)
                self.envs.append(env)
        except Exception as exc:  # told to the driver by ``ping``
            self.failure = _portable(exc)

    def ping(self) -> tuple[str, int, tuple[BaseException, str] | None, str]:
        """Incarnation, pid, the constructor's failure (or None), node id."""
        import ray

        return self.incarnation, os.getpid(), self.failure, ray.get_runtime_context().get_node_id()

    def reset(self, requests: dict[int, tuple[int | None, dict | None]]) -> tuple[str, dict[int, tuple[str, Any]]]:
        out = {}
        for j, (seed, options) in requests.items():
            self.running.discard(j)
            out[j] = _attempt(lambda j=j, seed=seed, options=options: self.envs[j].reset(seed=seed, options=options))
            if out[j][0] == "ok":
                self.running.add(j)
        return self.incarnation, out

    def step(self, actions: dict[int, Action]) -> tuple[str, dict[int, tuple[str, Any]]]:
        live = {j: a for j, a in actions.items() if j in self.running}
        prefetch_batch([self.envs[j] for j in live], list(live.values()))
        out = {j: _attempt(lambda j=j, a=a: step_env(self.envs[j], a)) if j in live else (LOST, None) for j, a in actions.items()}
        return self.incarnation, out

    def call(self, requests: dict[int, tuple[str, tuple, dict]]) -> tuple[str, dict[int, tuple[str, Any]]]:
        out = {}
        for j, (name, args, kwargs) in requests.items():
            method = _attempt(lambda j=j, name=name: self.envs[j].get_wrapper_attr(name))
            out[j] = _attempt(lambda m=method[1], a=args, k=kwargs: m(*a, **k)) if method[0] == "ok" else method
            if name == "import_episode" and out[j][0] == "ok":
                self.running.add(j)
        return self.incarnation, out

    def close(self) -> None:
        for env in self.envs:
            with contextlib.suppress(Exception):
                env.close()


def _attempt(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:
        return "raise", _portable(exc)


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` ("auto", "HOST:PORT", "ray://..."), or start one in this
    process (``"local"``); with None, keep the cluster this process joined, else start one."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address in (None, "local"):
        ray.init(include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    else:
        ray.init(address=address, logging_level="WARNING", log_to_driver=False)


class RayVectorAgentEnv(VectorAgentEnv):
    """``num_envs`` envs of ``spec`` in ``num_actors`` Ray actors (default: the cluster's CPUs), placed with ``SPREAD``.

    A call to an actor that died (its process or its node) fails with ``RayActorError``; the envs it
    was stepping get ``error_step`` with the cause, its other envs' next step is one too, and Ray
    restarts the actor (``max_restarts``; past them a new actor is made). Episodes never survive a
    restart: the new actor's envs need ``reset``. A step past ``step_timeout`` seconds kills its
    actor the same way. ``reset`` on a restarted actor retries once; ``call`` (and ``fork``) raise
    ``WorkerDied``. ``actor_options`` go to ``.options()`` (``resources``; ``num_cpus``, default 0.01:
    a CPU demand, however small, makes ``SPREAD`` spread, where 0 left every actor on one node, and
    a restart still finds room on the surviving nodes).
    """

    def __init__(
        self,
        spec: EnvSpec,
        num_envs: int,
        autoreset: bool = False,
        *,
        address: str | None = None,
        num_actors: int | None = None,
        max_concurrency: int = 1,
        max_restarts: int = 4,
        step_timeout: float | None = None,
        record_to: str | None = None,
        actor_options: dict[str, Any] | None = None,
    ):
        super().__init__(num_envs, autoreset)
        if step_timeout is not None and not step_timeout > 0:
            raise ValueError(f"step_timeout must be a positive number of seconds or None, got {step_timeout!r}")
        for name, value in (("num_actors", num_actors), ("max_concurrency", max_concurrency)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        import ray

        connect(address)
        self._ray = ray
        self.spec, self.record_to, self.step_timeout = spec, record_to, step_timeout
        self.max_concurrency = max_concurrency
        if num_actors is None:
            num_actors = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.num_actors = min(num_actors, num_envs)
        self._home = [(i % self.num_actors, i // self.num_actors) for i in range(num_envs)]  # env -> (actor, local index)
        self._members = [[i for i in range(num_envs) if self._home[i][0] == a] for a in range(self.num_actors)]
        options = {"num_cpus": 0.01, "scheduling_strategy": "SPREAD", **(actor_options or {})}
        self._remote = ray.remote(EnvGroup).options(
            max_concurrency=max_concurrency, max_restarts=max_restarts, max_task_retries=0, **options
        )
        self.restarts = [0] * num_envs
        self._lost: dict[int, str] = {}  # env -> why its episode is gone (its actor died while it was not being stepped)
        self._last: list[tuple[str, int, int]] = [("", 0, 0)] * num_envs  # task id, turn, invalid actions
        self._actors = [self._remote.remote(spec, len(m), record_to) for m in self._members]
        self._incarnations: list[str | None] = [None] * self.num_actors
        self.nodes: list[str] = []  # each actor's node id when it was made
        try:
            for a, (incarnation, _pid, failure, node) in enumerate(ray.get([actor.ping.remote() for actor in self._actors])):
                if failure is not None:
                    exc, text = failure
                    raise exc from RuntimeError(f"in Ray actor {a}:\n{text}")
                self._incarnations[a] = incarnation
                self.nodes.append(node)
        except BaseException:
            self._kill_all()
            raise

    # ---- dispatch ----
    def _dispatch(self, method: str, payloads: dict[int, Any], timeout: float | None = None) -> tuple[dict, dict]:
        """Send each actor its envs' payloads in up to ``max_concurrency`` calls, all at once, and wait for all.

        Returns ``(answers, failures)``: each env's ``(status, value)`` from its actor, and for the envs
        whose actor died or timed out, the cause. An actor found restarted loses all its episodes.
        """
        calls: dict[Any, tuple[int, list[int]]] = {}
        for a in range(self.num_actors):
            mine = [i for i in self._members[a] if i in payloads]
            for chunk in _chunks(mine, self.max_concurrency):
                ref = getattr(self._actors[a], method).remote({self._home[i][1]: payloads[i] for i in chunk})
                calls[ref] = (a, chunk)
        if not calls:
            return {}, {}
        ready, pending = self._ray.wait(list(calls), num_returns=len(calls), timeout=timeout)
        answers: dict[int, Any] = {}
        failures: dict[int, str] = {}
        for ref in pending:
            a, chunk = calls[ref]
            self._ray.kill(self._actors[a], no_restart=False)  # Ray restarts it
            cause = self._actor_lost(a, f"Ray actor {a} did not answer within {timeout} s and was killed")
            failures.update(dict.fromkeys(chunk, cause))
        dead = {calls[ref][0] for ref in pending}
        replies = {}
        for ref in ready:
            a, chunk = calls[ref]
            try:
                replies[ref] = self._ray.get(ref)
            except self._ray.exceptions.RayActorError as exc:
                dead.add(a)
                cause = self._actor_lost(a, f"Ray actor {a} died ({type(exc).__name__}: {_first_line(exc)})")
                failures.update(dict.fromkeys(chunk, cause))
        for ref, (incarnation, out) in replies.items():
            a, chunk = calls[ref]
            if a not in dead:  # (else another call to it failed: its episodes are gone, these answers still stand)
                if self._incarnations[a] is not None and incarnation != self._incarnations[a]:
                    self._actor_lost(a, f"Ray actor {a} was restarted (its process or node died) and lost its episodes")
                self._incarnations[a] = incarnation
            for i in chunk:
                answers[i] = out[self._home[i][1]]
        for i in failures:
            self._lost.pop(i, None)  # reported now, by this call
            answers.pop(i, None)
        for i in [i for i, (status, _) in answers.items() if status == LOST]:
            del answers[i]
            failures[i] = self._lost.pop(i, f"Ray actor {self._home[i][0]} lost env {i}'s episode")
        return answers, failures

    def _actor_lost(self, a: int, cause: str) -> str:
        """Every episode of actor ``a`` is gone: its envs' next step is an error step, then they need a reset."""
        if self._incarnations[a] is not None:  # once per death
            self._incarnations[a] = None
            for i in self._members[a]:
                self.restarts[i] += 1
                if i not in self._needs_reset:
                    self._lost.setdefault(i, cause)
        return cause

    def _revive(self, a: int) -> None:
        """Wait for Ray's restart of actor ``a``; past ``max_restarts`` (it stays dead), make a new one."""
        try:
            self._incarnations[a] = self._ray.get(self._actors[a].ping.remote())[0]
        except self._ray.exceptions.RayActorError:
            self._actors[a] = self._remote.remote(self.spec, len(self._members[a]), self.record_to)
            self._incarnations[a] = self._ray.get(self._actors[a].ping.remote())[0]

    @staticmethod
    def _raise_first(answers: dict[int, Any]) -> None:
        for status, value in answers.values():
            if status == "raise":
                exc, text = value
                raise exc from RuntimeError(f"in a Ray actor:\n{text}")

    # ---- backend primitives ----
    def _reset_many(self, requests: dict[int, tuple[int | None, dict | None]]) -> dict[int, Any]:
        answers, failures = self._dispatch("reset", requests)
        if failures:  # a reset loses nothing: once the actor is back, try again
            for a in sorted({self._home[i][0] for i in failures}):
                self._revive(a)
            retry, failures = self._dispatch("reset", {i: requests[i] for i in failures})
            answers.update(retry)
            if failures:
                i, cause = next(iter(failures.items()))
                raise WorkerDied(f"env {i} could not be reset: {cause}")
        for i in requests:
            self._lost.pop(i, None)
        self._raise_first(answers)
        for i, (_, (_, info)) in answers.items():
            self._last[i] = (info["task_id"], info["turn"], info["invalid_actions"])
        return {i: value for i, (_, value) in answers.items()}

    def _step_many(self, actions: dict[int, Action]) -> dict[int, StepTuple]:
        results: dict[int, StepTuple] = {}
        for i in [i for i in actions if i in self._lost]:
            task_id, turn, invalid = self._last[i]
            results[i] = error_step(f"{self._lost.pop(i)}; the episode was lost", task_id, turn + 1, invalid)
        answers, failures = self._dispatch("step", {i: a for i, a in actions.items() if i not in results}, self.step_timeout)
        for i, cause in failures.items():
            task_id, turn, invalid = self._last[i]
            results[i] = error_step(f"{cause}; the episode was lost", task_id, turn + 1, invalid)
        self._raise_first(answers)
        for i, (_, value) in answers.items():
            results[i] = value
            info = value[4]
            self._last[i] = (info["task_id"], info["turn"], info["invalid_actions"])
        return results

    def _call_many(self, requests: dict[int, tuple[str, tuple, dict]]) -> dict[int, Any]:
        lost = sorted(i for i in requests if i in self._lost)
        if lost:
            raise WorkerDied(f"envs {lost} lost their episodes ({self._lost[lost[0]]}); reset them first")
        answers, failures = self._dispatch("call", requests)
        if failures:
            for i in failures:
                self._needs_reset.add(i)
            i, cause = next(iter(failures.items()))
            raise WorkerDied(f"env {i}: {cause}")
        self._raise_first(answers)
        return {i: value for i, (_, value) in answers.items()}

    def _fork_many(self, sources: dict[int, list[int]]) -> None:
        """The source's episode travels as ``AgentEnv.export_episode()`` to each destination, on any node."""
        self._fork_by_export(sources, "Ray actors")

    def close(self) -> None:
        if self.closed:
            return
        with contextlib.suppress(Exception):
            self._ray.wait([actor.close.remote() for actor in self._actors], num_returns=self.num_actors, timeout=10)
        self._kill_all()
        super().close()

    def _kill_all(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):
                self._ray.kill(actor, no_restart=True)

    def __del__(self) -> None:
        if not getattr(self, "closed", True) and hasattr(self, "_actors"):
            with contextlib.suppress(Exception):
                self.close()


def _chunks(items: list[int], n: int) -> list[list[int]]:
    n = min(n, len(items))
    return [items[k::n] for k in range(n)] if n else []


def _first_line(exc: BaseException) -> str:
    return next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)[:300]


__all__ = ["EnvGroup", "RayVectorAgentEnv", "connect"]
