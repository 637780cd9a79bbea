"""Memory store latency: BM25 search p50 and fork p50 at 100k items, against the issue's goals.

Setup: a semantic ``ItemMemory`` of ``--items`` items (default 100k), each 20 words drawn from a
Zipf-like distribution over 20k words (so frequent words have long postings, as in real text),
loaded in one base; then 400 updates, 300 deletes and 300 inserts, so searches and forks run
with a live overlay of 1000 changes over the base (``compact_every`` = 1024). Measured:

* ``search``: ``store.search(query, k=5, method="bm25")`` for 4-word queries from the same
  distribution, p50 and p95 over ``--queries`` queries (goal p50 <= 5 ms);
* ``fork``: ``store.fork()`` and ``MemoryBank.fork()`` of a bank holding that store, p50 (goal <= 1 ms);
* ``compact``: folding the overlay into a new base (once every ``compact_every`` writes).

Env step latency at 10k vs 1M stream tokens comes with the memory env, not measured here.

Run from the repository root::

    python bench/memory.py            # 100k items, 500 queries
    python bench/memory.py --quick    # 20k items, 100 queries

Measured (2-core CPU machine, python 3.11, shared with other jobs), 100k items::

    search bm25 p50 1.47 ms, p95 2.68 ms over 500 queries (1000-change overlay)
    fork store p50 0.0026 ms, bank p50 0.0033 ms
    compact 0.38 s; load 100000 items 2.0 s
    ratio search_100k_p50 / goal: 0.29, fork_100k_p50 / goal: 0.003

The last line printed is each figure over its goal (below 1 meets the goal).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from turngym.memory.items import ItemMemory
from turngym.memory.store import MemoryBank

SEARCH_GOAL_MS = 5.0
FORK_GOAL_MS = 1.0


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k items, 100 queries")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.items, args.queries = 20_000, 100
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
    print(f"ratio search_{args.items // 1000}k_p50 / goal: {search_p50 / SEARCH_GOAL_MS:.2f}, "
          f"fork_{args.items // 1000}k_p50 / goal: {fork_p50 / FORK_GOAL_MS:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
