"""Search envs: batched in-process retrieval against a retrieval server called once per query, in one run.

Part 1, env steps/s. 64 ``turngym/SearchQA-v0`` envs in a sync vector env over the generated world
(seed 0, 200 entities) with BM25, all driven by one fixed scripted policy: each episode searches
the title of each hop's first gold article, then 0-2 random queries of corpus words, then answers
(the gold answer 80% of the time). Every side plays the same action sequence; an episode that ends
is reset with the next question of its env's script (resets count in the time, steps in the rate).
The sides:

- in-process, batched: ``turngym.make_vec(...)``, the default path: ``SearchEnv.prefetch_batch``
  sends one ``search_batch`` for all queries of a vector step to the shared in-process index.
- in-process, one call per query: each env holds its own wrapper of that index, so each query is
  its own ``search_batch`` call (splits the gain: batching in bm25s against the HTTP overhead).
- HTTP, one request per query: what Search-R1 and GEM do. A real ``RetrievalServer`` on 127.0.0.1,
  over the same BM25 index, in its own process (``--server thread``: a thread of this process);
  each env has its own ``HTTPRetriever``, so each query is one POST. The server's ``/health``
  counters check that it really is one request per query.
- HTTP, one request per vector step: all envs share one ``HTTPRetriever``, so ``prefetch_batch``
  sends one POST for the whole vector step.

The observations and rewards of every side are hashed: all sides must see the same transcripts.

Part 2, query latency p50/p95 of one query and of a batch of 64, for BM25, faiss flat and faiss
HNSW (the package's ``DenseRetriever`` settings) at 10k and 100k documents of synthetic
encyclopedia text from a seeded generator. Embedding 100k passages with MiniLM takes minutes on a
small CPU, so the dense indexes hold random 384-d unit vectors, and queries are random unit
vectors too: their rows time faiss search plus the package's result building, without a query
encoder. The MiniLM rows add what the encoder costs: one query, 64 queries, and the throughput on
500 passages.

Part 3, index memory: the index's own bytes (bm25s' sparse matrices; faiss ``serialize_index``),
its files on disk, and the RSS growth of a fresh process loading it (after the documents; BM25
read into memory and memory-mapped, the latter also after a batch of 64 queries touched it).

Run from the repository root::

    python bench/search.py            # parts 1-3 at 10k and 100k documents (HNSW at 100k: minutes)
    python bench/search.py --quick    # a short run: fewer steps, 10k documents only

The last line printed is
``ratio batched in-process / HTTP per query steps/s: X.XXx (goal >= 5x)``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval_server import ServerHandle
from search_indexes import BATCH, TOPK, bench_indexes, bench_minilm, print_latency, print_memory

ENV_ID = "turngym/SearchQA-v0"
MASK = (1 << 64) - 1


# ---- part 1: the scripted policy ---------------------------------------------------------------
class EpisodeScript:
    """One env's endless, seeded sequence of episodes: ``(question_index, actions)``."""

    def __init__(self, world: Any, questions: Sequence[Any], vocab: Sequence[str], seed: int, env_index: int) -> None:
        self.world = world
        self.questions = questions
        self.vocab = vocab
        self.rng = random.Random(f"search-script-{seed}-{env_index}")

    def next(self) -> tuple[int, list[str]]:
        rng = self.rng
        index = rng.randrange(len(self.questions))
        q = self.questions[index]
        queries = [self.world.document(hop[0]).title for hop in q.gold_doc_ids]  # oracle-like: the gold titles
        for _ in range(rng.choice((0, 1, 1, 2))):
            queries.insert(rng.randint(0, len(queries)), " ".join(rng.sample(self.vocab, rng.randint(1, 3))))
        answer = q.answers[0] if rng.random() < 0.8 else "unknown"
        return index, [f"<search>{x}</search>" for x in queries] + [f"<answer>{answer}</answer>"]


@dataclass
class Run:
    vec_steps: int
    env_steps: int
    queries: int
    episodes: int
    seconds: float
    digest: int
    requests: int | None = None  # HTTP requests the server answered during the run
    server_queries: int | None = None

    @property
    def rate(self) -> float:
        return self.env_steps / self.seconds


def drive(vec: Any, scripts: list[EpisodeScript], vec_steps: int, server: ServerHandle | None) -> Run:
    """Step every env ``vec_steps`` times along its script; the first resets are not timed."""
    n = vec.num_envs
    pending: list[deque[str]] = [deque() for _ in range(n)]

    def start(i: int) -> None:
        index, actions = scripts[i].next()
        vec.reset(indices=[i], options={"question_index": index})
        pending[i] = deque(actions)

    for i in range(n):
        start(i)
    before = server.counters() if server is not None else None
    queries = episodes = 0
    digest = 0
    t0 = time.perf_counter()
    for _ in range(vec_steps):
        actions = [p.popleft() for p in pending]
        queries += sum(a.startswith("<search>") for a in actions)
        step = vec.step(actions)
        for i in range(n):
            obs = step.obs[i]
            digest = (digest * 1_000_003 + hash((tuple(m["content"] for m in obs), step.rewards[i]))) & MASK
            if step.terminated[i] or step.truncated[i]:
                if pending[i]:
                    raise RuntimeError(f"env {i} ended before its script did: {step.infos[i]}")
                episodes += 1
                start(i)
            elif not pending[i]:
                raise RuntimeError(f"env {i} did not end after its answer: {step.infos[i]}")
    seconds = time.perf_counter() - t0
    run = Run(vec_steps, vec_steps * n, queries, episodes, seconds, digest)
    if server is not None and before is not None:
        after = server.counters()
        run.requests = after["requests_served"] - before["requests_served"]
        run.server_queries = after["queries_served"] - before["queries_served"]
    return run


# ---- part 1: the retrieval server (bench/retrieval_server.py) -------------------------------------


class OwnCall:
    """Wraps a shared retriever so that ``prefetch_batch`` sees one retriever per env (one call per query)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[Any]]:
        return self.inner.search_batch(queries, k)

    def get(self, doc_id: str) -> Any:
        return self.inner.get(doc_id)


@dataclass
class Side:
    name: str
    make: Callable[[], Any]
    http: bool


def bench_vector_envs(args: argparse.Namespace) -> tuple[float, list[str]]:
    """Part 1: prints its table, returns the ratio and the lines to repeat at the end."""
    import turngym
    from turngym.envs.search import resources
    from turngym.envs.vector import SyncVectorAgentEnv
    from turngym.tools.retrieval.client import HTTPRetriever

    env_kwargs = {"world_seed": args.world_seed, "num_entities": args.entities}
    world = resources.generated_world(args.world_seed, args.entities)
    docs, questions = resources.corpus_and_questions(None, None, split="train", **env_kwargs)
    bm25 = resources.make_retriever("bm25", docs)  # the index the default envs share (built once per process)
    vocab = sorted({w for d in docs for w in re.findall(r"[a-z]{4,}", d.text.lower())})
    server = ServerHandle(bm25, args.server)
    http_clients: list[Any] = []

    def http_client() -> Any:
        client = HTTPRetriever(server.url)
        http_clients.append(client)
        return client

    def per_query_http() -> Any:
        return SyncVectorAgentEnv(lambda: turngym.make(ENV_ID, retriever=http_client(), **env_kwargs), args.envs)

    def shared_http() -> Any:
        shared = http_client()
        return SyncVectorAgentEnv(lambda: turngym.make(ENV_ID, retriever=shared, **env_kwargs), args.envs)

    def own_call() -> Any:
        return SyncVectorAgentEnv(lambda: turngym.make(ENV_ID, retriever=OwnCall(bm25), **env_kwargs), args.envs)

    sides = [
        Side("in-process, batched (default)", lambda: turngym.make_vec(ENV_ID, args.envs, mode="sync", **env_kwargs), False),
        Side("in-process, one call per query", own_call, False),
        Side("HTTP, one request per query", per_query_http, True),
        Side("HTTP, one request per vec step", shared_http, True),
    ]
    results: dict[str, Run] = {}
    try:
        vecs = {s.name: s.make() for s in sides}
        for s in sides:  # warm-up: connections, caches
            drive(vecs[s.name], [EpisodeScript(world, questions, vocab, args.seed + 1, i) for i in range(args.envs)], 3, None)
        for _ in range(args.repeats):
            for s in sides:  # interleaved, so drift hits every side alike; the same script every time
                scripts = [EpisodeScript(world, questions, vocab, args.seed, i) for i in range(args.envs)]
                run = drive(vecs[s.name], scripts, args.vec_steps, server if s.http else None)
                best = results.get(s.name)
                if best is None or run.rate > best.rate:
                    results[s.name] = run
        for vec in vecs.values():
            vec.close()
    finally:
        for client in http_clients:
            client.close()
        server.stop()

    base = results[sides[0].name]
    print(
        f"\nPart 1: {args.envs} x {ENV_ID} (generated world seed {args.world_seed}, {args.entities} entities, "
        f"{len(docs)} documents, BM25, top-{TOPK}), sync vector env, scripted policy;\n"
        f"{args.vec_steps} vector steps per run, best of {args.repeats}; server: RetrievalServer in a "
        f"{'separate process' if args.server == 'process' else 'thread of this process'} on 127.0.0.1"
    )
    print(f"{'side':<32} {'steps/s':>9} {'ms/vec step':>12} {'queries/s':>10} {'requests':>9} {'req/query':>10} {'same obs':>9}")
    for s in sides:
        r = results[s.name]
        requests = f"{r.requests:,}" if r.requests is not None else "-"
        per_query = f"{r.requests / r.queries:.3f}" if r.requests is not None and r.queries else "-"
        same = "yes" if r.digest == base.digest else "NO"
        print(
            f"{s.name:<32} {r.rate:>9,.0f} {1e3 * r.seconds / r.vec_steps:>12.2f} {r.queries / r.seconds:>10,.0f} "
            f"{requests:>9} {per_query:>10} {same:>9}"
        )
    per_query_run = results["HTTP, one request per query"]
    shared_run = results["HTTP, one request per vec step"]
    print(
        f"each run: {base.queries:,} searches and {base.episodes:,} episodes in {base.env_steps:,} env steps; "
        f"server saw {per_query_run.requests:,} requests / {per_query_run.server_queries:,} queries for "
        f"{per_query_run.queries:,} searches (per query), {shared_run.requests:,} / {shared_run.server_queries:,} (shared client)"
    )
    if per_query_run.requests != per_query_run.queries:
        print("WARNING: the per-query HTTP side did not send exactly one request per query")
    lines = []
    for s in sides[1:]:
        lines.append(f"ratio batched in-process / {s.name} steps/s: {base.rate / results[s.name].rate:.2f}x")
    ratio = base.rate / per_query_run.rate
    return ratio, lines


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 vector steps, best of 2; 10k documents; fewer queries")
    parser.add_argument("--envs", type=int, default=64, help="envs in the vector env")
    parser.add_argument("--vec-steps", type=int, default=100, help="vector steps per part-1 run")
    parser.add_argument("--repeats", type=int, default=3, help="part-1 runs per side; the best counts")
    parser.add_argument("--entities", type=int, default=200, help="entities of the generated world (the env's default)")
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--server", choices=["process", "thread"], default="process", help="where the retrieval server runs")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="corpus sizes for parts 2 and 3")
    parser.add_argument("--single-queries", type=int, default=200, help="single queries timed per index")
    parser.add_argument("--batches", type=int, default=30, help=f"batches of {BATCH} queries timed per index")
    parser.add_argument("--passages", type=int, default=500, help="passages for the MiniLM throughput")
    parser.add_argument("--no-minilm", action="store_true", help="skip the MiniLM rows")
    parser.add_argument("--parts", default="123", help="which parts to run, e.g. 1 or 23")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scripts and the synthetic corpora")
    parser.add_argument("--faiss-threads", type=int, default=None, help="faiss OpenMP threads (default: faiss' own)")
    args = parser.parse_args()
    if args.quick:
        args.vec_steps, args.repeats, args.sizes = 30, 2, [10_000]
        args.single_queries, args.batches, args.passages = 50, 10, 200

    started = time.perf_counter()
    import bm25s
    import faiss

    if args.faiss_threads is not None:
        faiss.omp_set_num_threads(args.faiss_threads)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, bm25s {bm25s.__version__}, faiss {faiss.__version__} "
        f"({faiss.omp_get_max_threads()} threads); load average at start {_load()}"
    )
    ratio, ratio_lines = None, []
    if "1" in args.parts:  # first: it forks the server process before anything starts threads
        ratio, ratio_lines = bench_vector_envs(args)
    if "2" in args.parts or "3" in args.parts:
        latencies, memories = bench_indexes(args)
        minilm = None if args.no_minilm or "2" not in args.parts else bench_minilm(args)
        if "2" in args.parts:
            print_latency(latencies, minilm, args)
        if "3" in args.parts:
            print_memory(memories)
    elapsed = time.perf_counter() - started
    print(f"\ntotal time {elapsed:.0f} s; load average at the end {_load()} (other processes share these CPUs)")
    for line in ratio_lines:
        print(line)
    if ratio is not None:
        print(f"ratio batched in-process / HTTP per query steps/s: {ratio:.2f}x (goal >= 5x)")


if __name__ == "__main__":
    main()
