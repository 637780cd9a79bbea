"""Memory latency: store search and fork p50 at 100k items, env step p50 at 10k vs 1M stream tokens.

Setup: a semantic ``ItemMemory`` of ``--items`` items (default 100k), each 20 words drawn from a
Zipf-like distribution over 20k words (so frequent words have long postings, as in real text),
loaded in one base; then 400 updates, 300 deletes and 300 inserts, so searches and forks run
with a live overlay of 1000 changes over the base (``compact_every`` = 1024). Measured:

* ``search``: ``store.search(query, k=5, method="bm25")`` for 4-word queries from the same
  distribution, p50 and p95 over ``--queries`` queries (goal p50 <= 5 ms);
* ``fork``: ``store.fork()`` and ``MemoryBank.fork()`` of a bank holding that store, p50 (goal <= 1 ms);
* ``compact``: folding the overlay into a new base (once every ``compact_every`` writes).

* ``step``: ``env.step`` of ``turngym/MemoryQA-v0`` (``memory="tools"``) and ``turngym/MemAgent-v0``
  (``memory="overwrite"``) played by their oracles at ``stream_tokens`` 10k and 1M (``chunk_tokens``
  1000, the default ``wiki+world`` haystack): p50 over ``--steps`` *chunk steps* (the steps that
  read the stream and show the next chunk; 10k plays episodes until it has them, 1M plays one
  episode from its start), also p50 over all steps (tool calls and questions included; their mix
  differs between the two lengths) and reset p50, reported separately (goal: 1M / 10k <= 1.2x).

Run from the repository root::

    python bench/memory.py            # 100k items, 500 queries
    python bench/memory.py --quick    # 20k items, 100 queries, 200 steps

Measured (2-core CPU machine, python 3.11, shared with other jobs), 100k items, 1000 chunk steps::

    search bm25 p50 1.44 ms, p95 2.42 ms over 500 queries (1000-change overlay)
    fork store p50 0.0026 ms, bank p50 0.0033 ms
    compact 0.22 s; load 100000 items 2.1 s
    step MemoryQA-v0 tools 10k: chunk step p50 0.203 ms, all steps p50 0.077 ms, reset p50 0.89 ms
    step MemoryQA-v0 tools 1M: chunk step p50 0.190 ms, all steps p50 0.189 ms, reset p50 0.88 ms
    step MemAgent-v0 overwrite 10k: chunk step p50 0.142 ms, all steps p50 0.140 ms, reset p50 2.41 ms
    step MemAgent-v0 overwrite 1M: chunk step p50 0.135 ms, all steps p50 0.135 ms, reset p50 2.45 ms
    ratio search_100k_p50 / goal: 0.29, fork_100k_p50 / goal: 0.003,
          step_1M/10k MemoryQA-v0 tools: 0.93 (goal <= 1.2), step_1M/10k MemAgent-v0 overwrite: 0.95 (goal <= 1.2)

(All-step p50 at 10k is lower for MemoryQA only because its short episodes hold more cheap tool and
question steps; the whole 1M episode, chunk 1 to 1000, shows no growth in step cost.)

The last line printed is each figure over its goal (below 1 meets the goal) and each step ratio with its goal.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

import turngym
from turngym.memory.items import ItemMemory
from turngym.memory.store import MemoryBank

SEARCH_GOAL_MS = 5.0
FORK_GOAL_MS = 1.0
STEP_GOAL_RATIO = 1.2
STEP_ENVS = (("turngym/MemoryQA-v0", "tools"), ("turngym/MemAgent-v0", "overwrite"))


def build_store(n_items: int, seed: int) -> tuple[ItemMemory, random.Random, list[str], list[float], float]:
    rng = random.Random(seed)
    vocab = [f"word{i}" for i in range(20_000)]
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    items = [{"id": f"s{i + 1}", "content": " ".join(rng.choices(vocab, weights, k=20)), "timestamp": i} for i in range(n_items)]
    start = time.perf_counter()
    store = ItemMemory.from_dict({"prefix": "s", "next_id": n_items + 1, "items": items})
    load_s = time.perf_counter() - start
    for i in range(400):
        store.update(f"s{2 * i + 1}", " ".join(rng.choices(vocab, weights, k=20)), 1)
    for i in range(300):
        store.delete(f"s{2 * i + 2}")
    for _ in range(300):
        store.insert(" ".join(rng.choices(vocab, weights, k=20)), 2)
    return store, rng, vocab, weights, load_s


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def timed_ms(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def step_latency(env_id: str, memory: str, stream_tokens: int, chunk_steps: int) -> dict[str, float]:
    """p50 ms of the oracle's chunk steps, of all steps, and of resets, until ``chunk_steps`` chunk steps."""
    env = turngym.make(env_id, stream_tokens=stream_tokens, chunk_tokens=1_000, memory=memory)
    core = env.unwrapped
    chunk_ms, all_ms, reset_ms = [], [], timed_ms(lambda: env.reset(seed=0), 1)
    while len(chunk_ms) < chunk_steps:
        action, reading = core.oracle_action(), core.state.data["question"] < 0
        start = time.perf_counter()
        _, _, terminated, truncated, info = env.step(action)
        all_ms.append((time.perf_counter() - start) * 1e3)
        if reading and info["new_context"]:
            chunk_ms.append(all_ms[-1])
        if terminated or truncated:
            if info["reward_parts"]["outcome"] != 1.0:
                raise RuntimeError(f"{env_id}: the oracle scored {info['reward_parts']['outcome']}: the setup is broken")
            reset_ms += timed_ms(lambda: env.reset(seed=len(all_ms)), 1)
    med = statistics.median
    return {"chunk": med(chunk_ms), "all": med(all_ms), "reset": med(reset_ms), "steps": len(all_ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k items, 100 queries")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1_000, help="chunk steps per env and stream length")
    args = parser.parse_args()
    if args.quick:
        args.items, args.queries, args.steps = 20_000, 100, 200
    store, rng, vocab, weights, load_s = build_store(args.items, args.seed)
    queries = [" ".join(rng.choices(vocab, weights, k=4)) for _ in range(args.queries)]
    if not all(store.search(q, 5) for q in queries[:20]):
        raise RuntimeError("a benchmark query found nothing: the setup is broken")
    search_ms = []
    for q in queries:
        start = time.perf_counter()
        store.search(q, 5)
        search_ms.append((time.perf_counter() - start) * 1e3)
    fork_ms = timed_ms(store.fork, 1000)
    bank = MemoryBank()
    bank.semantic = store
    bank_fork_ms = timed_ms(bank.fork, 1000)
    compact_s = timed_ms(store.fork().compact, 1)[0] / 1e3
    search_p50, fork_p50 = statistics.median(search_ms), statistics.median(fork_ms)
    print(f"python {sys.version.split()[0]}, {len(store)} items, overlay {len(store._over) + len(store._deleted)} changes")
    print(f"search bm25 p50 {search_p50:.2f} ms, p95 {p(search_ms, 0.95):.2f} ms over {len(queries)} queries")
    print(f"fork store p50 {fork_p50:.4f} ms, bank p50 {statistics.median(bank_fork_ms):.4f} ms")
    print(f"compact {compact_s:.2f} s; load {args.items} items {load_s:.1f} s")
    step_ratios = []
    for env_id, memory in STEP_ENVS:
        short, long = (step_latency(env_id, memory, n, args.steps) for n in (10_000, 1_000_000))
        name = env_id.split("/")[1]
        for label, r in (("10k", short), ("1M", long)):
            print(f"step {name} {memory} {label}: chunk step p50 {r['chunk']:.3f} ms, all steps p50 {r['all']:.3f} ms "
                  f"({r['steps']} steps), reset p50 {r['reset']:.2f} ms")  # fmt: skip
        step_ratios.append(f"step_1M/10k {name} {memory}: {long['chunk'] / short['chunk']:.2f} (goal <= {STEP_GOAL_RATIO})")
    print(f"ratio search_{args.items // 1000}k_p50 / goal: {search_p50 / SEARCH_GOAL_MS:.2f}, "
          f"fork_{args.items // 1000}k_p50 / goal: {fork_p50 / FORK_GOAL_MS:.3f}, {', '.join(step_ratios)}")  # fmt: skip


if __name__ == "__main__":
    main()
