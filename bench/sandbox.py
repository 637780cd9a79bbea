"""Sandboxes: latency of one call and throughput of concurrent callers, local and docker (warm pool and cold start).

Every call runs ``print(1)`` and checks that ``1`` came back. The sides:

- bare subprocess: ``python3 -c 'print(1)'`` with no sandbox at all, the floor a subprocess per call can reach.
- local: ``make_sandbox("local")`` (bubblewrap where it works; the isolation in force is printed), one process per
  call, each started ahead of its call (``spares=1``).
- local rlimits-only: ``make_sandbox("local", isolation="rlimits")``, the fallback without namespaces.
- docker warm: ``make_sandbox("docker")``, a pool of running containers that each take calls.
- docker cold: one ``docker run --rm IMAGE python3 -c 'print(1)'`` per call through the docker SDK (no network,
  memory and pids limits, read-only root), the way most peers run code.

Part 1, latency: sequential calls after a few warm-up calls, spaced ``--gap`` apart (50 ms: an env's calls are spaced
by the model's generation, and both the local and the docker warm side start the next call's process meanwhile);
p50 and p95, and the p50 of calls back to back. Part 2, throughput: 8 threads (8 envs) sharing the side's sandbox,
calling back to back; calls/s. docker is found through DOCKER_HOST; where no dockerd answers (or the image is
missing), its sides are skipped and the reason printed.

Run from the repository root::

    python bench/sandbox.py            # 200 calls per side (30 cold), 8 x 25 concurrent
    python bench/sandbox.py --quick    # 40 calls per side (8 cold), 8 x 6 concurrent

The last line printed is ``ratio docker cold p50 / warm p50: X.Xx (goal >= 10x)``, or why it is missing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from turngym.tools.sandbox import Limits, Sandbox, SandboxError, make_sandbox

IMAGE = "turngym-sandbox:latest"
CODE = "print(1)"
THREADS = 8
GOALS = {"local": ("p50", 0.020), "docker warm": ("p50", 0.050)}


@dataclass
class Side:
    name: str
    call: Callable[[], None]
    close: Callable[[], None]
    detail: str = ""


@dataclass
class Latency:
    p50: float
    p95: float
    calls: int
    back_to_back_p50: float


def sandbox_side(name: str, sandbox: Sandbox) -> Side:
    def call() -> None:
        result = sandbox.run(CODE)
        if result.stdout != "1\n":
            raise RuntimeError(f"{name}: expected '1\\n', got {result}")

    isolation = ", ".join(f"{k}={v}" for k, v in sandbox.isolation.items() if k in ("method", "network", "user"))
    return Side(name, call, sandbox.close, isolation)


def bare_side() -> Side:
    def call() -> None:
        out = subprocess.run(["/usr/bin/python3", "-c", CODE], capture_output=True, text=True, check=True).stdout
        if out != "1\n":
            raise RuntimeError(f"bare subprocess: expected '1\\n', got {out!r}")

    return Side("bare subprocess", call, lambda: None, "/usr/bin/python3, no limits")


def docker_cold_side(image: str, limits: Limits) -> Side:
    """``docker run --rm`` per call through the SDK; SandboxError when no dockerd answers or the image is missing."""
    try:
        import docker
    except ImportError as exc:
        raise SandboxError(f"the docker SDK is not installed ({exc})") from None
    try:
        client = docker.from_env()
        client.ping()
        client.images.get(image)
    except Exception as exc:  # noqa: BLE001 - any failure to reach dockerd skips the docker sides
        raise SandboxError(f"{type(exc).__name__}: {exc}") from None

    def call() -> None:
        out = client.containers.run(
            image,
            ["python3", "-c", CODE],
            remove=True,
            network_mode="none",
            mem_limit=f"{limits.memory_mb}m",
            pids_limit=limits.processes,
            read_only=True,
            user="65534:65534",
        )
        if out != b"1\n":
            raise RuntimeError(f"docker cold: expected b'1\\n', got {out!r}")

    return Side("docker cold", call, client.close, f"docker run --rm {image}")


def measure_latency(side: Side, calls: int, warmup: int, gap: float) -> Latency:
    for _ in range(warmup):
        side.call()
    spaced, back_to_back = _timed(side, calls, gap), _timed(side, max(1, calls // 2), 0.0)
    p95 = spaced[min(len(spaced) - 1, round(0.95 * (len(spaced) - 1)))]
    return Latency(statistics.median(spaced), p95, calls, statistics.median(back_to_back))


def _timed(side: Side, calls: int, gap: float) -> list[float]:
    times = []
    for _ in range(calls):
        time.sleep(gap)
        started = time.perf_counter()
        side.call()
        times.append(time.perf_counter() - started)
    return sorted(times)


def measure_throughput(side: Side, calls_per_thread: int) -> float:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(calls_per_thread):
                side.call()
        except BaseException as exc:  # noqa: BLE001 - reported after the threads end
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return THREADS * calls_per_thread / elapsed


def build_sides(args: argparse.Namespace) -> tuple[list[Side], list[str]]:
    sides = [bare_side()]
    sides.append(sandbox_side("local", make_sandbox("local")))
    sides.append(sandbox_side("local rlimits-only", make_sandbox("local", isolation="rlimits")))
    skipped = []
    try:
        sides.append(sandbox_side("docker warm", make_sandbox("docker")))
    except (SandboxError, ImportError) as exc:
        skipped.append(f"docker warm skipped: {exc}")
    try:
        sides.append(docker_cold_side(args.image, Limits()))
    except SandboxError as exc:
        skipped.append(f"docker cold skipped: {exc}")
    return sides, skipped


def goal_text(name: str, p50: float) -> str:
    if name not in GOALS:
        return ""
    _, goal = GOALS[name]
    return f"goal p50 <= {goal * 1000:.0f} ms: {'met' if p50 <= goal else 'MISSED'}"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 calls per side (8 cold), 8 x 6 concurrent")
    parser.add_argument("--calls", type=int, default=200, help="sequential calls timed per side")
    parser.add_argument("--cold-calls", type=int, default=30, help="sequential calls timed for docker cold")
    parser.add_argument("--concurrent", type=int, default=25, help="calls per thread in the throughput part")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls before the latency part")
    parser.add_argument("--image", default=IMAGE, help="image of the docker cold side")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between the timed sequential calls")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.cold_calls, args.concurrent, args.warmup = 40, 8, 6, 3

    started = time.perf_counter()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; load average at start {_load()}")
    sides, skipped = build_sides(args)
    for side in sides:
        print(f"  {side.name:<20} {side.detail}")
    for line in skipped:
        print(f"  {line}")

    print(f"\nlatency of one call ({CODE!r}, sequential, {args.gap * 1000:.0f} ms apart; the last column back to back)")
    print(f"{'side':<20} {'p50 ms':>8} {'p95 ms':>8} {'calls':>6} {'b2b p50':>8}  goal")
    latencies: dict[str, Latency] = {}
    for side in sides:
        cold = side.name == "docker cold"
        latency = measure_latency(side, args.cold_calls if cold else args.calls, 1 if cold else args.warmup, args.gap)
        latencies[side.name] = latency
        row = f"{side.name:<20} {latency.p50 * 1000:8.1f} {latency.p95 * 1000:8.1f} {latency.calls:6d}"
        print(f"{row} {latency.back_to_back_p50 * 1000:8.1f}  {goal_text(side.name, latency.p50)}")

    print(f"\nthroughput, {THREADS} threads calling at once")
    print(f"{'side':<20} {'calls/s':>8} {'calls':>6}")
    for side in sides:
        per_thread = max(2, args.concurrent // 4) if side.name == "docker cold" else args.concurrent
        rate = measure_throughput(side, per_thread)
        print(f"{side.name:<20} {rate:8.1f} {THREADS * per_thread:6d}")

    for side in sides:
        side.close()
    elapsed = time.perf_counter() - started
    print(f"\ntotal time {elapsed:.0f} s; load average at the end {_load()} (other processes share these CPUs)")
    warm, cold = latencies.get("docker warm"), latencies.get("docker cold")
    if warm is not None and cold is not None:
        print(f"ratio docker cold p50 / warm p50: {cold.p50 / warm.p50:.1f}x (goal >= 10x)")
    else:
        print("ratio docker cold p50 / warm p50: not measured (" + "; ".join(skipped) + ")")


if __name__ == "__main__":
    main()
