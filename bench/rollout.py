"""Rollout engine against the trainer loop as it was: episodes/s of ``turngym/MultiHopQA-v0`` with the oracle.

Both loops play the same seeds with the env's oracle and record the same ``EpisodeTokens`` (message
trajectories, rewards, reward parts, step metrics); every episode must succeed in both, and each
seed's episode (task, actions, rewards) must be the same in both.

- engine: ``Engine(turngym.make_vec(ENV_ID, envs, mode="sync"), OraclePolicy()).play(seeds)``. All
  running episodes' actions go into one vector step, so ``SearchEnv.prefetch_batch`` sends one
  batched retrieval for all the step's queries; an env whose episode ends gets the next seed.
- baseline, the trainer loop as it was (``collect_episodes`` before the engine): a list of ``envs``
  envs from ``turngym.make(ENV_ID)``, reset with one seed each; per turn, each running env is
  stepped on its own with ``env.unwrapped.oracle_action()``; the next ``envs`` seeds start when
  all episodes of the wave have ended. Every query is its own retrieval call.

Two retrieval setups, one row per loop each:

- in-process: the envs' default ``retriever="bm25"``, one BM25 index shared by every env.
- HTTP: ``retriever="http://127.0.0.1:PORT"``, turngym's own Search-R1-compatible
  ``RetrievalServer`` over that same BM25 index, in a forked process (``--server thread``: a thread
  of this process). The envs of a process share one ``HTTPRetriever``: the engine sends one POST per
  vector step, the baseline one per query. The server's ``/health`` counters give requests per episode.

Each (setup, loop) plays the seeds once to warm up, then ``--repeats`` timed runs, interleaved so that
drift hits both loops alike; the median counts. Making the envs and the server is not timed.

Run from the repository root::

    python bench/rollout.py            # 512 episodes x 64 envs, hops 1-4 (the env's default), median of 7
    python bench/rollout.py --quick    # 64 episodes x 16 envs, median of 2 (a few seconds)
    python bench/rollout.py --profile  # also cProfile the engine over the HTTP setup

Measured on a 2-core machine shared with other work (load average 5-6 during the runs; python 3.11,
BM25 over the generated world of 200 entities, 3.60 turns per episode); ``python bench/rollout.py``
takes 35 s::

    setup       loop      episodes  seconds  episodes/s  requests/episode
    in-process  engine         512    0.257       1,994                 -
    in-process  baseline       512    0.292       1,755                 -
    HTTP        engine         512    0.508       1,008             0.061
    HTTP        baseline       512    3.021         169             2.596
    ratio engine/baseline episodes/s, in-process retrieval: 1.14x
    ratio engine/baseline episodes/s, HTTP retrieval: 5.95x (goal >= 5x)

On that busy machine the ratios move between runs: HTTP 4.4x-6.4x over four full runs, in-process
0.96x-1.32x. ``--hops 1`` (2 turns per episode, 9 s): HTTP 7.4x, in-process 0.8x (runs of 0.1 s).
``--server thread`` (the server shares this process's GIL): HTTP 4.0x. In-process, bm25s scores
each query of a batch on its own, so batching saves only the per-call overhead; over HTTP the
baseline pays one round trip per query (2.6 per episode), the engine one per vector step.
``--quick`` takes 3 s.

The last line printed is ``ratio engine/baseline episodes/s, HTTP retrieval: X.XXx (goal >= 5x)``,
after the same ratio for in-process retrieval.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval_server import ServerHandle

ENV_ID = "turngym/MultiHopQA-v0"


# ---- the two loops --------------------------------------------------------------------------------
def play_engine(vec: Any, seeds: Sequence[int]) -> list[Any]:
    from turngym.agents import OraclePolicy
    from turngym.engine import Engine

    return Engine(vec, OraclePolicy()).play(seeds)


def play_baseline(envs: Sequence[Any], seeds: Sequence[int]) -> list[Any]:
    """The trainer loop as it was: waves of one episode per env, each env stepped on its own."""
    from turngym.agents.base import MessagePolicy, PolicyOutput, output_sample
    from turngym.engine import EpisodeTokens

    trajectories = MessagePolicy(None)  # message trajectories, as the engine keeps for an oracle
    episodes: list[Any] = []
    for first in range(0, len(seeds), len(envs)):
        wave = []
        for env, seed in zip(envs, seeds[first : first + len(envs)], strict=False):
            obs, info = env.reset(seed=seed)
            wave.append((env, EpisodeTokens.begin(trajectories.start(obs), info, seed)))
        running = wave
        while running:
            still_running = []
            for env, episode in running:
                sample = output_sample(PolicyOutput(env.unwrapped.oracle_action()))
                obs, reward, terminated, truncated, info = env.step(sample.text)
                episode.add_turn(trajectories, sample, reward, info["reward_parts"], env.unwrapped.step_metrics)
                if episode.after_step(trajectories, obs, terminated, truncated, info):
                    still_running.append((env, episode))
            running = still_running
        episodes.extend(episode for _, episode in wave)
    return episodes


def fingerprint(episodes: Sequence[Any]) -> list[tuple[Any, ...]]:
    """What must match between the loops: each seed's task, actions and rewards, and that it succeeded."""
    return [(e.seed, e.task_id, tuple(e.actions), tuple(e.rewards), e.success) for e in sorted(episodes, key=lambda e: e.seed)]


# ---- timing ---------------------------------------------------------------------------------------
@dataclass
class Loop:
    setup: str
    name: str
    play: Callable[[Sequence[int]], list[Any]]
    server: ServerHandle | None
    seconds: list[float]
    requests: int | None = None  # server requests of the last timed run

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def timed(loop: Loop, seeds: Sequence[int], expected: list[tuple[Any, ...]] | None) -> list[tuple[Any, ...]]:
    before = loop.server.requests() if loop.server is not None else 0
    start = time.perf_counter()
    episodes = loop.play(seeds)
    seconds = time.perf_counter() - start
    if loop.server is not None:
        loop.requests = loop.server.requests() - before
    failed = [e.seed for e in episodes if not e.success]
    if len(episodes) != len(seeds) or failed:
        where = f"{loop.setup} / {loop.name}"
        raise RuntimeError(f"{where}: {len(episodes)} episodes for {len(seeds)} seeds; seeds that failed: {failed[:10]}")
    got = fingerprint(episodes)
    if expected is not None and got != expected:
        raise RuntimeError(f"{loop.setup} / {loop.name}: the episodes differ from the engine's in-process ones")
    loop.seconds.append(seconds)
    return got


def profile_engine(loop: Loop, seeds: Sequence[int]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    loop.play(seeds)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(30)
    print(f"\ncProfile of {loop.setup} / {loop.name}, {len(seeds)} episodes, sorted by cumulative time:")
    print(out.getvalue())


def parse_hops(text: str) -> int | tuple[int, int] | None:
    """``all`` (the env's default: 1..4), ``2`` or ``1-3``."""
    if text == "all":
        return None
    low, _, high = text.partition("-")
    return (int(low), int(high)) if high else int(low)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 episodes x 16 envs, median of 2")
    parser.add_argument("--episodes", type=int, default=512, help="episodes per run (seeds seed .. seed + episodes - 1)")
    parser.add_argument("--envs", type=int, default=64, help="envs of each loop")
    parser.add_argument("--hops", default="all", help="hops per question: all (the env's default, 1-4), N or LOW-HIGH")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per loop and setup; the median counts")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--server", choices=["process", "thread"], default="process", help="where the retrieval server runs")
    parser.add_argument("--profile", action="store_true", help="also cProfile one engine run over HTTP")
    args = parser.parse_args(argv)
    if args.quick:
        args.episodes, args.envs, args.repeats = 64, 16, 2
    if args.episodes < 1 or args.envs < 1 or args.repeats < 1:
        parser.error("--episodes, --envs and --repeats must be >= 1")

    started = time.perf_counter()
    import turngym
    from turngym.envs.search import resources

    hops = parse_hops(args.hops)
    env_kwargs: dict[str, Any] = {"hops": hops}
    probe = turngym.make(ENV_ID, **env_kwargs)  # builds the shared BM25 index (once per process)
    bm25 = probe.unwrapped.retriever
    probe.close()
    server = ServerHandle(bm25, args.server)  # forked before any client or env thread exists
    http_kwargs = {**env_kwargs, "retriever": server.url}
    vecs: list[Any] = []
    envs: list[Any] = []
    loops: list[Loop] = []
    try:
        for setup, kwargs, handle in (("in-process", env_kwargs, None), ("HTTP", http_kwargs, server)):
            vec = turngym.make_vec(ENV_ID, args.envs, mode="sync", **kwargs)
            single = [turngym.make(ENV_ID, **kwargs) for _ in range(args.envs)]
            vecs.append(vec)
            envs.extend(single)
            loops.append(Loop(setup, "engine", lambda seeds, vec=vec: play_engine(vec, seeds), handle, []))
            loops.append(Loop(setup, "baseline", lambda seeds, single=single: play_baseline(single, seeds), handle, []))
        seeds = list(range(args.seed, args.seed + args.episodes))
        expected = timed(loops[0], seeds, None)  # warm-up of each loop; every loop must play the same episodes
        for loop in loops[1:]:
            timed(loop, seeds, expected)
        for loop in loops:
            loop.seconds.clear()
        for _ in range(args.repeats):
            for loop in loops:
                timed(loop, seeds, expected)
        if args.profile:
            profile_engine(next(x for x in loops if x.setup == "HTTP" and x.name == "engine"), seeds)
    finally:
        for vec in vecs:
            vec.close()
        for env in envs:
            env.close()
        with contextlib.suppress(Exception):
            resources.make_retriever(server.url, ()).close()  # the envs' shared HTTPRetriever
        server.stop()

    turns = sum(len(t[2]) for t in expected) / len(expected)
    hop_text = "1-4 (the env's default)" if hops is None else str(args.hops)
    print(
        f"\npython {sys.version.split()[0]}, {os.cpu_count()} CPUs; {ENV_ID}, hops {hop_text}, oracle policy, "
        f"{turns:.2f} turns per episode; {args.envs} envs, {args.episodes} episodes per run, median of {args.repeats}; "
        f"BM25, HTTP server in a {'separate process' if args.server == 'process' else 'thread of this process'}"
    )
    print(f"{'setup':<11} {'loop':<9} {'episodes':>8} {'seconds':>8} {'episodes/s':>11} {'requests/episode':>17}")
    for loop in loops:
        per_episode = f"{loop.requests / args.episodes:.3f}" if loop.requests is not None else "-"
        print(
            f"{loop.setup:<11} {loop.name:<9} {args.episodes:>8} {loop.median:>8.3f} {args.episodes / loop.median:>11,.0f} "
            f"{per_episode:>17}"
        )
    played = len(loops) * (args.repeats + 1) * args.episodes
    print(f"all {played:,} episodes succeeded; each seed's episode was the same in every loop")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"total time {time.perf_counter() - started:.0f} s; load average at the end {load} (other processes share these CPUs)")
    for setup, goal in (("in-process", ""), ("HTTP", " (goal >= 5x)")):
        engine, baseline = (next(x for x in loops if x.setup == setup and x.name == name) for name in ("engine", "baseline"))
        print(f"ratio engine/baseline episodes/s, {setup} retrieval: {baseline.median / engine.median:.2f}x{goal}")


if __name__ == "__main__":
    main()
