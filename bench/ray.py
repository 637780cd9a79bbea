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

Measured on a 2-core machine shared with other helpers' work (load average 6-80 during the runs:
the absolute numbers are lower bounds and move a lot between runs); ray 2.60, python 3.11.
``python bench/ray.py`` (2 min 40 s)::

    64 envs x 512 episodes of turngym/MultiHopQA-v0 (3.60 steps/episode), 2 CPUs
    vector env                             steps/s  steps/s/core
    process                                  1,915           957
    ray (2 actors, concurrency 1)            4,847         2,423
    sync (one process, for scale)           13,430        13,430
    bytes per env step: action 44, result 2,660 (pickled)
    ratio ray/process steps/s: 2.53x (goal >= 0.8)

(that run started at load 6 and ended at 38). At load 30-50: process 1,420, ray 3,843 (2.71x).
An earlier run, at load 60-80: process 345, ray 1,664 (4.82x). ``--sweep`` at load 60-70
(process 262 steps/s, ray 263: 1.01x): 1 actor 134, 4 actors 518, 8 actors 570, 2 actors with
max_concurrency 2: 2,322 (while the load dropped), 4: 303; too noisy to rank layouts, except that
one actor is the slowest. ``--quick`` (16 envs): process 1,215, ray 897 (0.74x): with few envs per
worker the process env's 16 pipes cost less than Ray's calls. A MultiHopQA step costs ~0.07 ms
of CPU (the sync row), so both transports cost more than the step they carry: Ray is for envs whose
step costs milliseconds (browsers, sandboxes, remote tools) and for more than one machine. Ray's
64 envs live in 2 actors (one per CPU, 32 envs each, ``prefetch_batch`` per actor), the process
env's in 64 processes, which is where Ray gains on 2 cores.

Retrieval section: BM25 over synthetic encyclopedia articles (``bench/search_indexes.py``; 100k,
``--quick`` 10k), stored by ``build_index``; batches of 64 queries, top 3, answered by the index in
this process (``search_batch``) and by ``deploy_retrieval`` on Ray Serve (one replica, one CPU)
through ``HTTPRetriever`` (the envs' client); both answer the same documents (checked). Rounds of
the two sides alternate and the median round counts; then ``--clients`` threads keep the replica
busy: its throughput, the mean batch it merged and its RSS (from ``/health``). Same machine and
load as above; two runs of ``python bench/ray.py`` (retrieval rows)::

    retrieval: BM25 over 100,000 synthetic articles (33 MB on disk), batches of 64, top 3, ...
    retrieval                            queries/s
    in process, search_batch                   108   (133 in the other run)
    Ray Serve, 1 replica, 1 client              94   (96)
    Ray Serve, 1 replica, 4 clients            115   (121; mean merged batch 122 queries, RSS 312 MB)
    ratio Ray Serve/in-process retrieval queries/s at batch 64: 0.87x (goal >= 0.5)   (0.72x)

``--quick`` (10k articles, 3 MB) swings with the load: 1,455 in process against 1,534 served
(1.05x), 1,851 against 417 (0.23x), 2,541 against 1,106 (0.44x). A request through Serve's proxy costs 7-11 ms before any
search (one query: 0.3 ms in process, 1.2 ms through the local uvicorn server), which a 10k index
answering 64 queries in ~15-35 ms feels and a 100k one barely does. The service is for sharing one
index across nodes, not for speed on one machine.

The last line printed is ``ratio ray/process steps/s: X.XXx (goal >= 0.8)``; the retrieval ratio
comes before it.
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


RETRIEVAL_BATCH = 64
RETRIEVAL_TOPK = 3


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def retrieval_section(args: argparse.Namespace) -> Section:
    """Queries/s of batches of 64 through Ray Serve (one replica, one CPU) against the same index in process."""
    import concurrent.futures
    import contextlib
    import tempfile
    from pathlib import Path

    import httpx
    import ray
    from ray import serve
    from search_indexes import synthetic_corpus

    from turngym.tools.retrieval.client import HTTPRetriever
    from turngym.tools.retrieval.corpus import write_corpus
    from turngym.tools.retrieval.index import build_index, index_info, load_index
    from turngym.tools.retrieval.ray_serve import deploy_retrieval

    n_docs, rounds, per_round = (10_000, 3, 5) if args.quick else (100_000, 7, 10)
    docs, questions = synthetic_corpus(n_docs, seed=0)
    batches = [questions[i * RETRIEVAL_BATCH : (i + 1) * RETRIEVAL_BATCH] for i in range(per_round)]
    queries = per_round * RETRIEVAL_BATCH
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    with tempfile.TemporaryDirectory(prefix="turngym-bench-ray-") as tmp, contextlib.ExitStack() as stop:
        stop.callback(ray.shutdown)
        stop.callback(serve.shutdown)  # runs first: the replica lets go of the index before the folder goes
        index_dir = Path(tmp) / "index"
        write_corpus(docs, Path(tmp) / "corpus.jsonl")
        build_index(Path(tmp) / "corpus.jsonl", "bm25", index_dir, progress=False)
        disk_mb = index_info(index_dir)["total_bytes"] / 1e6
        local = load_index(index_dir)
        url = deploy_retrieval(index_dir, name="bench-retrieval", num_cpus=1, http_port=_free_port())
        remote = HTTPRetriever(url, timeout=120)
        ids = lambda hits: [[h.doc_id for h in row] for row in hits]  # noqa: E731
        if any(ids(remote.search_batch(b, RETRIEVAL_TOPK)) != ids(local.search_batch(b, RETRIEVAL_TOPK)) for b in batches):
            raise AssertionError("Ray Serve and the in-process index answered different documents")
        times: dict[str, list[float]] = {"in process": [], "ray serve": []}
        for _ in range(rounds):  # alternating rounds: load from other processes hits both sides alike
            for side, retriever in (("in process", local), ("ray serve", remote)):
                start = time.perf_counter()
                for b in batches:
                    retriever.search_batch(b, RETRIEVAL_TOPK)
                times[side].append(time.perf_counter() - start)
        health = lambda: httpx.get(url.removesuffix("/retrieve") + "/health", timeout=30).json()  # noqa: E731
        before = health()
        clients = [HTTPRetriever(url, timeout=120) for _ in range(args.clients)]
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(lambda c: [c.search_batch(b, RETRIEVAL_TOPK) for b in batches], clients))
        busy = args.clients * queries / (time.perf_counter() - start)
        after = health()
    merged = (after["queries_served"] - before["queries_served"]) / (after["search_batch_calls"] - before["search_batch_calls"])
    rate = {side: queries / statistics.median(seconds) for side, seconds in times.items()}
    section = Section()
    section.rows.append(
        f"retrieval: BM25 over {n_docs:,} synthetic articles ({disk_mb:.0f} MB on disk), batches of {RETRIEVAL_BATCH}, "
        f"top {RETRIEVAL_TOPK}, median of {rounds} alternating rounds of {per_round} batches"
    )
    section.rows.append(f"{'retrieval':<36} {'queries/s':>9}")
    section.rows.append(f"{'in process, search_batch':<36} {rate['in process']:>9,.0f}")
    section.rows.append(f"{'Ray Serve, 1 replica, 1 client':<36} {rate['ray serve']:>9,.0f}")
    section.rows.append(
        f"{f'Ray Serve, 1 replica, {args.clients} clients':<36} {busy:>9,.0f}  "
        f"(mean merged batch {merged:.0f} queries, replica RSS {after['rss_bytes'] / 1e6:.0f} MB)"
    )
    ratio = rate["ray serve"] / rate["in process"]
    section.ratios.append(f"ratio Ray Serve/in-process retrieval queries/s at batch 64: {ratio:.2f}x (goal >= 0.5)")
    return section


SECTIONS: list[Callable[[argparse.Namespace], Section]] = [retrieval_section, env_section]  # env_section last: its ratio is last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray cluster")
    parser.add_argument("--actors", type=int, default=None, help="Ray actors (default: one per CPU)")
    parser.add_argument("--concurrency", type=int, default=1, help="max_concurrency of each actor")
    parser.add_argument("--sweep", action="store_true", help="also time other actor counts and concurrencies")
    parser.add_argument("--clients", type=int, default=4, help="retrieval: concurrent clients that keep the replica busy")
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
