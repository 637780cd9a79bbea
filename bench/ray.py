"""Ray against one machine's own parallelism: env steps/s of the Ray vector env and the process vector env.

Env section: ``Engine(vec, OraclePolicy()).play(seeds)`` on ``turngym/MultiHopQA-v0`` (BM25 over the
generated world, hops 1-4), the same seeds on both sides; each seed's episode (task, rewards,
success) must be the same on both. Per round the oracle asks every running env for its action
(``vec.call``) and the vector env steps them all (``vec.step``): two round trips to the workers.

- process: ``make_vec(ENV_ID, envs, mode="process")``, a spawned worker per env, one pipe each.
- sync: ``make_vec(ENV_ID, envs)`` in this process, no workers: what the steps cost without transport.
- ray: ``make_vec(ENV_ID, envs, mode="ray")`` on a Ray cluster started in this process
  (``ray.init(num_cpus=--cpus)``): ``--actors`` actors (default: one per CPU), env i in actor
  i % actors, each actor's share of a step in ``--concurrency`` calls (``max_concurrency``).
  ``--sweep`` also times other actor counts and concurrencies (rows only).

Making the envs is not timed. Each side plays the seeds once to warm up, then ``--repeats``
timed runs, interleaved; the median counts. Bytes per env step: the pickled size of one env's
action plus its step result (obs, reward, flags, info, context, metrics), as Ray and the pipes
send them. Run from the repository root::

    python bench/ray.py            # 64 envs, 512 episodes, median of 3
    python bench/ray.py --sweep    # also 1/4/8 actors and concurrency 2/4
    python bench/ray.py --quick    # 16 envs, 64 episodes, median of 2

Measured on a 2-core machine shared with other helpers' work (load average 30-80 during every run:
the absolute numbers are lower bounds and move a lot between runs); ray 2.60, python 3.11.
``python bench/ray.py`` (2 min 40 s)::

    64 envs x 512 episodes of turngym/MultiHopQA-v0 (3.66 steps/episode), 2 CPUs
    vector env                             steps/s  steps/s/core
    process                                  1,420           710
    ray (2 actors, concurrency 1)            3,843         1,922
    sync (one process, for scale)            8,373         8,373
    bytes per env step: action 44, result 2,660 (pickled)
    ratio ray/process steps/s: 2.71x (goal >= 0.8)

An earlier run, at load 60-80: process 345, ray 1,664 (4.82x). ``--sweep`` at load 60-70
(process 262 steps/s, ray 263: 1.01x): 1 actor 134, 4 actors 518, 8 actors 570, 2 actors with
max_concurrency 2: 2,322 (while the load dropped), 4: 303; too noisy to rank layouts, except that
one actor is the slowest. ``--quick`` (16 envs): process 1,215, ray 897 (0.74x): with few envs per
worker the process env's 16 pipes cost less than Ray's calls. A MultiHopQA step costs ~0.12 ms
of CPU (the sync row), so both transports cost more than the step they carry: Ray is for envs whose
step costs milliseconds (browsers, sandboxes, remote tools) and for more than one machine. Ray's
64 envs live in 2 actors (one per CPU, 32 envs each, ``prefetch_batch`` per actor), the process
env's in 64 processes, which is where Ray gains on 2 cores.

The last line printed is ``ratio ray/process steps/s: X.XXx (goal >= 0.8)``; sections added later
print their ratios before it.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE in sys.path:  # this file is bench/ray.py: `import ray` must find Ray, not this script
    sys.path.remove(HERE)
    sys.path.append(HERE)

ENV_ID = "turngym/MultiHopQA-v0"


@dataclass
class Section:
    """What a section prints: table rows, then its ratio lines (all sections' ratios come last)."""

    rows: list[str] = field(default_factory=list)
    ratios: list[str] = field(default_factory=list)


def play(vec: Any, seeds: Sequence[int]) -> tuple[list[Any], float]:
    from turngym.agents import OraclePolicy
    from turngym.engine import Engine

    start = time.perf_counter()
    episodes = Engine(vec, OraclePolicy()).play(seeds)
    return episodes, time.perf_counter() - start


def fingerprint(episodes: list[Any]) -> list[tuple]:
    return [(e.seed, e.task_id, tuple(e.actions), tuple(e.rewards), e.success) for e in episodes]


def bytes_per_step(vec: Any) -> tuple[float, float]:
    """Mean pickled bytes of one env's action and of its step result, over one vector step from a reset."""
    vec.reset(seed=0)
    actions = vec.call("oracle_action")
    step = vec.step(actions)
    sent = [len(pickle.dumps(a)) for a in actions]
    back = [
        len(
            pickle.dumps(
                tuple(getattr(step, f)[i] for f in ("obs", "rewards", "terminated", "truncated", "infos", "contexts", "metrics"))
            )
        )
        for i in range(len(actions))
    ]
    return statistics.mean(sent), statistics.mean(back)


def time_sides(sides: dict[str, Callable[[], Any]], seeds: list[int], repeats: int) -> dict[str, tuple[float, list[Any]]]:
    """Steps/s (median of ``repeats``, interleaved) and the episodes of each side."""
    vecs = {name: make() for name, make in sides.items()}
    try:
        episodes = {name: play(vec, seeds)[0] for name, vec in vecs.items()}  # warm-up
        times: dict[str, list[float]] = {name: [] for name in vecs}
        for _ in range(repeats):
            for name, vec in vecs.items():
                episodes[name], seconds = play(vec, seeds)
                times[name].append(seconds)
        return {name: (sum(e.turns for e in episodes[name]) / statistics.median(times[name]), episodes[name]) for name in vecs}
    finally:
        for vec in vecs.values():
            vec.close()


def env_section(args: argparse.Namespace) -> Section:
    import ray

    import turngym

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    seeds = list(range(args.episodes))
    kwargs = {"retriever": "bm25"}

    def ray_side(actors: int | None, concurrency: int) -> Callable[[], Any]:
        options = {"num_actors": actors, "max_concurrency": concurrency}
        return lambda: turngym.make_vec(ENV_ID, args.envs, mode="ray", ray=options, **kwargs)

    sides = {
        "process": lambda: turngym.make_vec(ENV_ID, args.envs, mode="process", **kwargs),
        f"ray ({args.actors or args.cpus} actors, concurrency {args.concurrency})": ray_side(args.actors, args.concurrency),
        "sync (one process, for scale)": lambda: turngym.make_vec(ENV_ID, args.envs, mode="sync", **kwargs),
    }
    if args.sweep:
        for actors, concurrency in ((1, 1), (4, 1), (8, 1), (args.cpus, 2), (args.cpus, 4)):
            sides[f"ray ({actors} actors, concurrency {concurrency})"] = ray_side(actors, concurrency)
    results = time_sides(sides, seeds, args.repeats)
    reference = fingerprint(results["process"][1])
    for name, (_, episodes) in results.items():
        if fingerprint(episodes) != reference:
            raise AssertionError(f"{name} played other episodes than the process vector env")
    if not all(e.success for e in results["process"][1]):
        raise AssertionError("the oracle failed an episode")
    with turngym.make_vec(ENV_ID, args.envs, mode="ray", ray={"num_actors": args.actors}, **kwargs) as vec:
        sent, back = bytes_per_step(vec)
    section = Section()
    turns = sum(e.turns for e in results["process"][1]) / len(seeds)
    section.rows.append(f"{args.envs} envs x {args.episodes} episodes of {ENV_ID} ({turns:.2f} steps/episode), {args.cpus} CPUs")
    section.rows.append(f"{'vector env':<36} {'steps/s':>9} {'steps/s/core':>13}")
    for name, (rate, _) in results.items():
        cores = 1 if name.startswith("sync") else args.cpus
        section.rows.append(f"{name:<36} {rate:>9,.0f} {rate / cores:>13,.0f}")
    section.rows.append(f"bytes per env step: action {sent:,.0f}, result {back:,.0f} (pickled)")
    ray_rate = results[list(sides)[1]][0]
    section.ratios.append(f"ratio ray/process steps/s: {ray_rate / results['process'][0]:.2f}x (goal >= 0.8)")
    ray.shutdown()
    return section


SECTIONS: list[Callable[[argparse.Namespace], Section]] = [env_section]  # new sections go before env_section: its ratio is last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray cluster")
    parser.add_argument("--actors", type=int, default=None, help="Ray actors (default: one per CPU)")
    parser.add_argument("--concurrency", type=int, default=1, help="max_concurrency of each actor")
    parser.add_argument("--sweep", action="store_true", help="also time other actor counts and concurrencies")
    parser.add_argument("--quick", action="store_true", help="16 envs, 64 episodes, median of 2")
    args = parser.parse_args()
    if args.quick:
        args.envs, args.episodes, args.repeats = 16, 64, 2
    sections = [section(args) for section in SECTIONS]
    for section in sections:
        print("\n".join(section.rows))
    for section in sections:
        print("\n".join(section.ratios))


if __name__ == "__main__":
    main()
