"""MiniWoB++ in a headless Chromium: turngym against BrowserGym and Farama's ``miniwob`` on the same tasks.

Three systems play the same MiniWoB++ pages (PyPI ``miniwob``'s ``html/miniwob/`` folder: the peers
open them as ``file://``, turngym serves them under its own origin) in the same Chromium (Debian's
``/usr/bin/chromium``, headless):

- turngym: ``turngym.make("turngym/miniwob.<task>-v0")``; for 16 envs one
  ``turngym.make_vec(id, 16, autoreset=True)`` (sync mode: one process; ``MiniWoBEnv.prefetch_batch``
  runs the 16 envs' browser work concurrently on the browser pool's event loop).
- BrowserGym: ``gym.make("browsergym/miniwob.<task>")`` from ``browsergym-miniwob``, as shipped (its
  MiniWoB tasks set Playwright's ``slow_mo`` to 100 ms and every step sleeps 0.5 s before the
  observation); each env launches its own Chromium (two: the page and the chat window). Its sync
  Playwright cannot be shared between threads, so 16 envs run as users run them: 16 processes.
- Farama ``miniwob`` (Selenium + chromedriver): ``gym.make("miniwob/<task>-v1")``, its default
  observation (with screenshot); 16 envs are 16 processes (``miniwob`` 1.x has one instance per env).

Per task, each system makes one env and resets it (``start``: the browser starts), then times
``--resets`` resets and ``--steps`` steps (p50 of each). The policy is the same for all three: a
click on an element drawn (seeded) from the observation's interactive elements (buttons, checkboxes,
text boxes, links...: the accessibility tree's ``[bid] role 'name'`` lines for turngym and
BrowserGym, the DOM element list for ``miniwob``), a no-op when there is none. An episode that ends,
or reaches 10 steps (turngym's ``max_turns``), is reset (not timed as a step). Then 16 envs of one
task (``--vec-task``) step ``--vec-steps`` times each, all at once; steps/s = steps of all envs / wall
seconds from the first step to the last env's last step (resets of ended episodes included; making
and first resets not: the peers' 16 processes start one after another, since 16 browsers starting
at once time BrowserGym's page loads out). An env that breaks on the way (BrowserGym's 5 s
``Page.goto`` timeout under load) stops; its steps so far count and the break is printed.

Peers run in child processes (this file with ``--worker``), each with its own Python, so BrowserGym
can live in its own virtual environment: it pins ``playwright==1.44`` while turngym uses a current
Playwright. A missing peer is reported ("peer X not installed: skipped") and the run goes on. The
bench sets the peers up itself in a temporary folder, downloading nothing: a wrapper script that
starts ``/usr/bin/chromium`` with the headless flags; for ``miniwob``, ``MINIWOB_CHROME_BINARY`` (that
wrapper) and ``MINIWOB_CHROMEDRIVER`` (Debian's chromedriver); for BrowserGym, ``MINIWOB_URL`` (the
``miniwob`` package's html folder) and ``PLAYWRIGHT_BROWSERS_PATH``, a folder laid out as its
Playwright expects (``chromium-<rev>/chrome-linux/chrome`` and the newer layouts), every executable
being the wrapper.

Setup (Debian)::

    apt-get install -y chromium chromium-driver
    pip install -c constraints.txt -e '.[gui]'     # turngym; its miniwob (with selenium) is the Farama peer
    python -m venv /tmp/bgvenv && /tmp/bgvenv/bin/pip install browsergym-miniwob miniwob   # pins playwright 1.44

Run from the repository root::

    python bench/gui.py --browsergym-python /tmp/bgvenv/bin/python            # 4 tasks, ~10 min
    python bench/gui.py --quick --browsergym-python /tmp/bgvenv/bin/python    # fewer iterations
    python bench/gui.py --quick --only turngym                                 # turngym alone

Measured on a quiet 2-core machine, Chromium 156, BrowserGym 0.14.3 on Playwright 1.44, miniwob 1.1.0 on
Selenium 4.51, turngym on Playwright 1.65; ``python bench/gui.py --browsergym-python /tmp/bgvenv/bin/python``
(4 min 40 s)::

    turngym    click-test-2       start    831 ms  reset p50     23 ms  step p50     7 ms
    turngym    click-button       start    223 ms  reset p50     17 ms  step p50     9 ms
    turngym    enter-text         start    238 ms  reset p50     21 ms  step p50     6 ms
    turngym    click-checkboxes   start    263 ms  reset p50     18 ms  step p50     7 ms
    turngym    all tasks                               reset p50     20 ms  step p50     7 ms
    turngym    16 envs on click-checkboxes: 151.65 steps/s
    browsergym click-test-2       start  1,626 ms  reset p50  1,309 ms  step p50   786 ms
    browsergym click-button       start  1,671 ms  reset p50  1,327 ms  step p50   784 ms
    browsergym enter-text         start  1,624 ms  reset p50  1,310 ms  step p50   792 ms
    browsergym click-checkboxes   start  1,747 ms  reset p50  1,433 ms  step p50   790 ms
    browsergym all tasks                               reset p50  1,336 ms  step p50   785 ms
    browsergym 16 envs on click-checkboxes: 2.09 steps/s (2 episodes broke: TimeoutError: Page.goto: Timeout 5000ms exceeded.)
    miniwob    click-test-2       start    737 ms  reset p50     58 ms  step p50     9 ms
    miniwob    click-button       start    709 ms  reset p50     58 ms  step p50    12 ms
    miniwob    enter-text         start    738 ms  reset p50     60 ms  step p50    11 ms
    miniwob    click-checkboxes   start    744 ms  reset p50     66 ms  step p50    50 ms
    miniwob    all tasks                               reset p50     59 ms  step p50    12 ms
    miniwob    16 envs on click-checkboxes: 31.57 steps/s
    turngym goals: reset p50 20 ms (goal <= 100), step p50 7 ms (goal <= 20)
    ratio miniwob/turngym reset p50: 3.00x, step p50: 1.58x
    ratio browsergym/turngym reset p50: 67.58x, step p50: 106.87x
    ratio turngym/miniwob steps/s at 16 envs: 4.80x
    ratio turngym/browsergym steps/s at 16 envs: 72.59x (goal >= 20)

Where turngym's step goes (16 envs, CPU per env step): Chromium's renderers ~8 ms, Playwright's driver
(node) ~5.5 ms, Chromium's browser process ~3.4 ms, Python ~3 ms. A click step is three calls to the
page: the target's box, the click, and one read of the tree, the task's status and whether the page
is being left. All are CPU: on 2 cores the 16 envs run at the machine's limit (more cores and the
pool's ``browsers`` were not measured). Under load (a test suite beside it, load average 30-100)
earlier runs measured 11-17x against BrowserGym: the ratio moves with the machine's load.

Goals: turngym reset <= 100 ms and step <= 20 ms (p50), and >= 20x BrowserGym's steps/s at 16 envs.
The last line printed is ``ratio turngym/browsergym steps/s at 16 envs: N.NNx (goal >= 20)``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TASKS = ("click-test-2", "click-button", "enter-text", "click-checkboxes")
VEC_TASK = "click-checkboxes"
SYSTEMS = ("turngym", "browsergym", "miniwob")
PEERS = {"browsergym": "browsergym.miniwob, miniwob", "miniwob": "miniwob, selenium"}  # what each peer imports
MAX_EPISODE_STEPS = 10
CHROMIUM_FLAGS = (
    "--no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking "
    "--disable-component-update --disable-sync --no-first-run"
)
# accessibility roles (turngym, BrowserGym) and DOM tags (miniwob) a click can act on
CLICKABLE_ROLES = {"button", "checkbox", "radio", "textbox", "link", "combobox", "searchbox", "spinbutton", "option", "tab"}
CLICKABLE_TAGS = {"button", "a", "select", "textarea", "option"}
TREE_LINE = re.compile(r"^\s*\[([^\]\s]+)\]\s+(\w+)")


def tree_targets(text: str) -> list[str]:
    """The element ids of the clickable nodes in a BrowserGym-format tree (``[bid] role 'name'`` lines)."""
    return [m.group(1) for m in map(TREE_LINE.match, text.splitlines()) if m and m.group(2) in CLICKABLE_ROLES]


# ---- the systems, behind one small interface: reset(seed) -> targets, step(target) -> (targets, done) ----
class BrowserGymSystem:
    def __init__(self, task: str):
        import browsergym.miniwob  # noqa: F401  (registers browsergym/miniwob.*)
        import gymnasium as gym
        from browsergym.utils.obs import flatten_axtree_to_str

        self._flatten = flatten_axtree_to_str
        self.env = gym.make(f"browsergym/miniwob.{task}")

    def _targets(self, obs: dict) -> list[str]:
        return tree_targets(self._flatten(obs["axtree_object"]))

    def reset(self, seed: int) -> list[str]:
        obs, _info = self.env.reset(seed=seed)
        return self._targets(obs)

    def step(self, target: str | None) -> tuple[list[str], bool]:
        obs, _reward, terminated, truncated, _info = self.env.step(f'click("{target}")' if target else "noop()")
        return self._targets(obs), terminated or truncated

    def close(self) -> None:
        self.env.close()


class MiniwobSystem:
    def __init__(self, task: str):
        import gymnasium as gym
        import miniwob
        from miniwob.action import ActionTypes

        gym.register_envs(miniwob)
        self.types = ActionTypes
        self.env = gym.make(f"miniwob/{task}-v1")

    @staticmethod
    def _targets(obs: dict) -> list[int]:
        tags = ((int(e["ref"]), str(e["tag"]).lower()) for e in obs["dom_elements"])
        return [ref for ref, tag in tags if tag in CLICKABLE_TAGS or tag.startswith("input")]

    def reset(self, seed: int) -> list[int]:
        obs, _info = self.env.reset(seed=seed)
        return self._targets(obs)

    def step(self, target: int | None) -> tuple[list[int], bool]:
        core = self.env.unwrapped
        action = core.create_action(self.types.CLICK_ELEMENT, ref=target) if target else core.create_action(self.types.NONE)
        obs, _reward, terminated, truncated, _info = self.env.step(action)
        return self._targets(obs), terminated or truncated

    def close(self) -> None:
        self.env.close()


class TurngymSystem:
    def __init__(self, task: str):
        import turngym

        self.env = turngym.make(turngym_id(task))

    def reset(self, seed: int) -> list[str]:
        obs, _info = self.env.reset(seed=seed)
        return turngym_targets(obs)

    def step(self, target: str | None) -> tuple[list[str], bool]:
        obs, _reward, terminated, truncated, _info = self.env.step(click_action(target))
        return turngym_targets(obs), terminated or truncated

    def close(self) -> None:
        self.env.close()


SYSTEM_CLASSES: dict[str, Callable[[str], Any]] = {
    "turngym": TurngymSystem,
    "browsergym": BrowserGymSystem,
    "miniwob": MiniwobSystem,
}


def turngym_id(task: str) -> str:
    return f"turngym/miniwob.{task}-v0"


def click_action(target: str | None) -> str:
    """turngym's action text (its default parser reads BrowserGym actions inside ``<action>`` tags)."""
    return f'<action>click("{target}")</action>' if target else "<action>noop()</action>"


def turngym_targets(obs: Any) -> list[str]:
    """Clickable element ids in a turngym observation (a list of messages; the page's tree is in the last)."""
    text = obs[-1]["content"] if isinstance(obs, list) else str(obs)
    return tree_targets(text if isinstance(text, str) else str(text))


# ---- measurements -----------------------------------------------------------------------------------
def latency(system_class: Callable[[str], Any], task: str, resets: int, steps: int, seed: int = 0) -> dict[str, Any]:
    """Seconds to make the env and reset it once (the browser starts), then ``resets`` reset and ``steps`` step durations."""
    rng = random.Random(seed)
    start = time.perf_counter()
    system = system_class(task)
    try:
        targets = system.reset(seed)
        first = time.perf_counter() - start
        return {"start": first, **time_resets_and_steps(system, targets, resets, steps, seed, rng)}
    finally:
        system.close()


def time_resets_and_steps(system: Any, targets: list, resets: int, steps: int, seed: int, rng: random.Random) -> dict[str, Any]:
    reset_s: list[float] = []
    step_s: list[float] = []
    episode_steps, done = 0, False
    while len(step_s) < steps or len(reset_s) < resets:
        if done or episode_steps >= MAX_EPISODE_STEPS or len(step_s) >= steps:
            seed += 1
            start = time.perf_counter()
            targets = system.reset(seed)
            reset_s.append(time.perf_counter() - start)
            episode_steps, done = 0, False
            continue
        target = rng.choice(targets) if targets else None
        start = time.perf_counter()
        targets, done = system.step(target)
        step_s.append(time.perf_counter() - start)
        episode_steps += 1
    return {"reset": reset_s[:resets], "step": step_s[:steps]}


def play_steps(system: Any, targets: list, steps: int, seed: int) -> tuple[int, str]:
    """``steps`` policy steps on a reset env (episodes that end or reach the step cap are reset).

    Returns the steps done and, when the env failed on the way, the error ('' when none).
    """
    rng = random.Random(seed)
    episode_steps = 0
    for done_steps in range(steps):
        try:
            targets, done = system.step(rng.choice(targets) if targets else None)
            episode_steps += 1
            if done or episode_steps >= MAX_EPISODE_STEPS:
                seed += 1000
                targets, episode_steps = system.reset(seed), 0
        except Exception as exc:  # a peer env that breaks under load: reported, its steps so far count
            return done_steps, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return steps, ""


def turngym_vec_steps_per_s(task: str, num_envs: int, steps: int) -> tuple[float, list[str]]:
    """``num_envs`` envs in one ``make_vec`` stepping together ``steps`` times (episodes end by themselves at
    the env's ``max_turns=10`` at the latest and autoreset). Returns steps/s and the episodes that broke."""
    import turngym

    vec = turngym.make_vec(turngym_id(task), num_envs, autoreset=True)
    try:
        rng = random.Random(0)
        obs, _infos = vec.reset(seed=0)
        targets = [turngym_targets(o) for o in obs]
        errors = []
        wait_until_quiet()
        start = time.perf_counter()
        for _ in range(steps):
            result = vec.step([click_action(rng.choice(t) if t else None) for t in targets])
            targets = [turngym_targets(o) for o in result.obs]
            for i, o in result.reset_obs.items():
                targets[i] = turngym_targets(o)
            errors += [f"stop_reason=error: {info.get('error')}" for info in result.infos if info.get("stop_reason") == "error"]
        return num_envs * steps / (time.perf_counter() - start), errors
    finally:
        vec.close()


def wait_until_quiet(busy_percent: float = 25.0, max_s: float = 15.0) -> None:
    """Before a steps/s run, wait (at most ``max_s``) until the machine's CPUs are quiet: new browser
    processes keep starting up for seconds after their first page loads (measured: 16 new Chromium
    contexts, even on ``about:blank``, take ~5 CPU-seconds in the 3 s after), which would be timed as steps."""
    import psutil

    deadline = time.monotonic() + max_s
    while psutil.cpu_percent(interval=0.5) > busy_percent and time.monotonic() < deadline:
        pass


# ---- peer processes ---------------------------------------------------------------------------------
def worker_main(args: argparse.Namespace) -> None:
    """A peer in this (child) process: latency as JSON, or (``--throughput``) "ready", wait for "go", JSON."""
    if not args.throughput:
        print(json.dumps(latency(SYSTEM_CLASSES[args.worker], args.task, args.resets, args.steps)), flush=True)
        return
    system = SYSTEM_CLASSES[args.worker](args.task)
    try:
        targets = system.reset(args.seed)
        print("ready", flush=True)
        if sys.stdin.readline().strip() == "go":
            steps, error = play_steps(system, targets, args.steps, args.seed)
            print(json.dumps({"steps": steps, "error": error}), flush=True)
    finally:
        system.close()


def peer_environment(scratch: Path, chromium: str, python: str) -> dict[str, str]:
    """Environment variables that point both peers at ``chromium`` (headless) and the local MiniWoB pages."""
    scratch.mkdir(parents=True, exist_ok=True)
    wrapper = scratch / "chromium-headless"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(chromium)} --headless {CHROMIUM_FLAGS} "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, MINIWOB_CHROME_BINARY=str(wrapper), MINIWOB_CHROMEDRIVER=shutil.which("chromedriver") or "")
    # where the peer's Playwright looks for its browsers: every layout it may expect, each the wrapper
    query = (
        "import json, pathlib, playwright, miniwob; "
        "p = pathlib.Path(playwright.__file__).parent / 'driver/package/browsers.json'; "
        "print(json.dumps([[b['name'], b['revision']] for b in json.loads(p.read_text())['browsers']])); "
        "print(pathlib.Path(miniwob.__file__).parent / 'html' / 'miniwob')"
    )
    lines = subprocess.run([python, "-c", query], capture_output=True, text=True, check=True).stdout.splitlines()
    browsers = scratch / "ms-playwright"
    for name, revision in json.loads(lines[0]):
        if not name.startswith("chromium"):
            continue
        folder = browsers / f"{name.replace('-', '_')}-{revision}"
        for relative in ("chrome-linux/chrome", "chrome-linux64/chrome", "chrome-linux/headless_shell",
                         "chrome-headless-shell-linux64/chrome-headless-shell"):  # fmt: skip
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).symlink_to(wrapper)
    env["PLAYWRIGHT_BROWSERS_PATH"] = str(browsers)
    env["MINIWOB_URL"] = Path(lines[1]).as_uri() + "/"
    return env


def peer_missing(system: str, python: str) -> str | None:
    """Why ``system`` cannot run under ``python`` (None when it can)."""
    try:
        probe = subprocess.run([python, "-c", f"import {PEERS[system]}"], capture_output=True, text=True)
    except OSError as exc:
        return f"peer {system} not installed: skipped (cannot run {python}: {exc.strerror})"
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or [f"exit code {probe.returncode}"])[-1]
        return f"peer {system} not installed in {python}: skipped ({why})"
    if system == "miniwob" and not shutil.which("chromedriver"):
        return "peer miniwob: no chromedriver on PATH (apt-get install chromium-driver): skipped"
    return None


def worker_command(python: str, system: str, task: str, *extra: str) -> list[str]:
    return [python, str(Path(__file__).resolve()), "--worker", system, "--task", task, *extra]


class Workers:
    """Peer worker processes, each in its own process group so that the browsers it started end with it."""

    def __init__(self, env: dict[str, str], stderr: Any = subprocess.PIPE):
        self.env, self.stderr, self.processes = env, stderr, []

    def spawn(self, command: list[str]) -> subprocess.Popen:
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": self.stderr}
        self.processes.append(subprocess.Popen(command, env=self.env, text=True, start_new_session=True, **pipes))
        return self.processes[-1]

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def peer_latency(python: str, env: dict[str, str], system: str, task: str, resets: int, steps: int) -> dict[str, Any]:
    with Workers(env) as workers:
        worker = workers.spawn(worker_command(python, system, task, "--resets", str(resets), "--steps", str(steps)))
        out, err = worker.communicate(timeout=900)
    if worker.returncode != 0:
        raise RuntimeError(f"the {system} worker failed on {task} (exit code {worker.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def read_line(worker: subprocess.Popen, log: Path) -> str:
    line = worker.stdout.readline().strip()
    if not line:
        raise RuntimeError(f"a peer worker exited (code {worker.wait()}) without answering:\n{log.read_text()[-3000:]}")
    return line


def peer_steps_per_s(
    python: str, env: dict[str, str], system: str, task: str, num_envs: int, steps: int, log: Path
) -> tuple[float, list[str]]:
    """``num_envs`` peer envs, one process each, made and reset one after another (not timed: 16 browsers
    starting at once time their page loads out on a small machine), then each stepping ``steps`` times,
    all at once. Returns the steps/s and the errors of the envs that broke on the way."""
    with log.open("w") as stderr, Workers(env, stderr) as workers:
        ready = []
        for i in range(num_envs):
            worker = workers.spawn(worker_command(python, system, task, "--throughput", "--steps", str(steps), "--seed", str(i)))
            if read_line(worker, log) != "ready":
                raise RuntimeError(f"a {system} worker did not get ready: {log.read_text()[-3000:]}")
            ready.append(worker)
        wait_until_quiet()
        start = time.perf_counter()
        for worker in ready:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [json.loads(read_line(worker, log)) for worker in ready]
        seconds = time.perf_counter() - start
    return sum(r["steps"] for r in results) / seconds, [r["error"] for r in results if r["error"]]


# ---- the run ----------------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def measure(system: str, args: argparse.Namespace, scratch: Path) -> dict[str, Any] | None:
    """One system's per-task latencies and its steps/s at ``args.envs`` envs (None: a peer that is not installed)."""
    if system == "turngym":
        one_env = functools.partial(latency, TurngymSystem, resets=args.resets, steps=args.steps)
        many_envs = functools.partial(turngym_vec_steps_per_s, args.vec_task, args.envs, args.vec_steps)
    else:
        python = args.browsergym_python if system == "browsergym" else args.miniwob_python
        missing = peer_missing(system, python)
        if missing:
            print(missing, flush=True)
            return None
        env = peer_environment(scratch / system, args.chromium, python)
        one_env = functools.partial(peer_latency, python, env, system, resets=args.resets, steps=args.steps)
        log = scratch / system / "workers.log"
        many_envs = functools.partial(peer_steps_per_s, python, env, system, args.vec_task, args.envs, args.vec_steps, log)
    tasks = {}
    for task in args.tasks.split(","):
        tasks[task] = timings = one_env(task)
        reset, step = statistics.median(timings["reset"]), statistics.median(timings["step"])
        print(
            f"{system:<10} {task:<18} start {ms(timings['start']):>6} ms  reset p50 {ms(reset):>6} ms  step p50 {ms(step):>5} ms"
        )
    steps_per_s, errors = many_envs()
    row = {
        "tasks": tasks,
        "reset_p50": statistics.median(s for t in tasks.values() for s in t["reset"]),
        "step_p50": statistics.median(s for t in tasks.values() for s in t["step"]),
        "steps_per_s": steps_per_s,
        "errors": errors,
    }
    print(
        f"{system:<10} {'all tasks':<18} {'':>19}  reset p50 {ms(row['reset_p50']):>6} ms  step p50 {ms(row['step_p50']):>5} ms"
    )
    broke = f" ({len(errors)} episodes broke: {'; '.join(sorted(set(errors)))})" if errors else ""
    print(f"{system:<10} {args.envs} envs on {args.vec_task}: {steps_per_s:,.2f} steps/s{broke}", flush=True)
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer resets and steps (3 resets, 5 steps, 3 vector steps)")
    parser.add_argument("--only", default=",".join(SYSTEMS), help=f"comma-separated systems out of {', '.join(SYSTEMS)}")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated MiniWoB task names")
    parser.add_argument("--vec-task", default=VEC_TASK, help="the task of the steps/s runs")
    parser.add_argument("--envs", type=int, default=16, help="concurrent envs of the steps/s runs")
    parser.add_argument("--resets", type=int, help="timed resets per task (default 10)")
    parser.add_argument("--steps", type=int, help="timed steps per task (default 20)")
    parser.add_argument("--vec-steps", type=int, help="steps per env in the steps/s runs (default 10)")
    parser.add_argument("--browsergym-python", default=sys.executable, help="the Python BrowserGym is installed in")
    parser.add_argument("--miniwob-python", default=sys.executable, help="the Python Farama's miniwob is installed in")
    default_chromium = os.environ.get("TURNGYM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    parser.add_argument("--chromium", default=default_chromium, help="the Chromium every system uses")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)  # a peer child process
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--throughput", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = (3, 5, 3) if args.quick else (10, 20, 10)
    for name, default in zip(("resets", "steps", "vec_steps"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    systems = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown or not systems:
        parser.error(f"--only expects systems out of {SYSTEMS}, got {args.only!r}")
    args.only = systems
    return args


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    args = parse_args(argv)
    if args.worker:
        worker_main(args)
        return {}
    results = {}
    with tempfile.TemporaryDirectory(prefix="turngym-bench-gui-") as scratch:
        for system in args.only:
            row = measure(system, args, Path(scratch))
            if row is not None:
                results[system] = row
    report(results, args.envs)
    return results


def report(results: dict[str, dict[str, Any]], envs: int) -> None:
    ours = results.get("turngym")
    if ours:
        print(
            f"turngym goals: reset p50 {ms(ours['reset_p50'])} ms (goal <= 100), step p50 {ms(ours['step_p50'])} ms (goal <= 20)"
        )
    for peer in ("miniwob", "browsergym"):
        if ours and peer in results:
            theirs = results[peer]
            print(f"ratio {peer}/turngym reset p50: {theirs['reset_p50'] / ours['reset_p50']:.2f}x, "
                  f"step p50: {theirs['step_p50'] / ours['step_p50']:.2f}x")  # fmt: skip
    if ours and "miniwob" in results:
        print(f"ratio turngym/miniwob steps/s at {envs} envs: {ours['steps_per_s'] / results['miniwob']['steps_per_s']:.2f}x")
    if ours and "browsergym" in results:
        ratio = f"{ours['steps_per_s'] / results['browsergym']['steps_per_s']:.2f}x"
    else:
        ratio = "n/a (needs turngym and browsergym)"
    print(f"ratio turngym/browsergym steps/s at {envs} envs: {ratio} (goal >= 20)")


if __name__ == "__main__":
    main()
