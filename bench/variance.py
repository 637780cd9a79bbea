"""Variance of advantage estimates: truncated step-level sampling against full-trajectory GRPO.

The env (``PickEnv`` below, a real ``AgentEnv`` with ``fork()``) lasts exactly T steps: at each
step the agent picks one of three letters (``<pick>b</pick>``); a process-reward hook pays 1 for
the step's hidden target letter, and the outcome at the end is the share of steps hit. The policy
is fixed and stochastic: at step t it picks from its own seeded distribution (it never learns).

For D decision points (a task, a prefix of t-1 steps the policy took, and the action a_t it took
next, with t drawn uniformly from 1..T) the advantage of a_t is estimated R times with fresh
randomness, with groups of k:

* full-trajectory GRPO: a_t's episode continues to the end under the policy; its return (prefix,
  a_t, the rest) minus the mean return of the group: it and k-1 episodes sampled from the start
  of the same task;
* truncated step-level: k-1 siblings of a_t are sampled from the same state (``env.fork()``);
  a_t's step reward (plus the outcome when the step ends the episode) minus the mean of the k.

Both use ``group_advantages(..., normalize_std=False)``. The bench prints, per T, the variance of
each estimate over the repeats (averaged over decision points) and their ratio step / full; the
last line holds the ratios. The goal is <= 0.5 at T >= 4 (theory: about 1/T or lower).

Run from the repository root::

    python bench/variance.py            # D=100, R=100, k=4, T in 2 4 8 (about 2 CPU minutes)
    python bench/variance.py --quick    # D=24, R=40 (about 10 CPU seconds)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from turngym.baselines.advantages import group_advantages
from turngym.envs.core import AgentEnv, Reply, Task
from turngym.envs.hooks.base import StepContext
from turngym.envs.messages import user_message
from turngym.envs.parsers import ParsedAction

LETTERS = ("a", "b", "c")


def hit(ctx: StepContext) -> float | None:
    """1.0 when the step picked the step's target letter (the process reward), 0.0 otherwise."""
    targets = ctx.facts["targets"]
    return float(ctx.parsed.answer == targets[ctx.turn - 1]) if ctx.turn <= len(targets) else None


class PickEnv(AgentEnv):
    """Pick one letter per step for exactly ``steps`` steps; each step's target is hidden.

    Description:
        The targets (one of a, b, c per step) are drawn from the seed. A bench env for advantage
        variance: every episode lasts ``steps`` steps, each with its own reward.

    Observation:
        Reset: a system prompt and the task. Step: "Step t of T." or what was wrong with the action.

    Action:
        ``<pick>x</pick>`` with x one of a, b, c.

    Rewards:
        ``hit`` (process reward): 1.0 for the step's target letter, else 0.0. ``outcome``: the
        share of steps hit, at the last step.

    Episode End:
        Terminated after ``steps`` picks; truncated after ``max_invalid_actions`` malformed actions.

    Arguments:
        steps: the episode length T (default 4). Plus every ``AgentEnv`` argument.
    """

    instructions = "Pick one letter, a, b or c, at each step."
    default_parser = "tags"
    answer_tag = "pick"

    def __init__(self, steps: int = 4, **kwargs: Any):
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        self.steps = steps
        kwargs.setdefault("max_turns", steps + 4)
        kwargs.setdefault("process_rewards", [hit])
        super().__init__(**kwargs)

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        targets = tuple(str(self.np_random.choice(LETTERS)) for _ in range(self.steps))
        prompt = f"Pick a letter at each of {self.steps} steps: reply with <pick>x</pick>."
        return Task(id="pick-" + "".join(targets), prompt=prompt, facts={"targets": targets})

    def _respond(self, parsed: ParsedAction) -> Reply:
        if parsed.answer not in LETTERS:
            return self._reply_error(f"expected a pick of a, b or c, got {str(parsed.answer)[:20]!r}")
        state = self._state()
        hits = state.data.setdefault("hits", [])
        hits.append(parsed.answer == state.task.facts["targets"][state.turn - 1])
        if state.turn >= self.steps:
            return Reply(outcome=sum(hits) / self.steps, done=True)
        return Reply(messages=[user_message(f"Step {state.turn + 1} of {self.steps}.")])


@dataclass
class FixedPolicy:
    """A fixed stochastic policy: at step t, letter probabilities ``probs[t]`` (seeded Dirichlet)."""

    probs: np.ndarray

    @classmethod
    def make(cls, steps: int, seed: int) -> FixedPolicy:
        return cls(np.random.default_rng(seed).dirichlet(np.ones(len(LETTERS)), size=steps))

    def act(self, env: PickEnv, rng: np.random.Generator) -> str:
        turn = env.state.turn  # actions taken so far
        return f"<pick>{LETTERS[rng.choice(len(LETTERS), p=self.probs[turn])]}</pick>"


def run_to_end(env: PickEnv, policy: FixedPolicy, rng: np.random.Generator) -> float:
    """Step ``env`` with the policy until the episode ends; the sum of the rewards on the way."""
    total, done = 0.0, False
    while not done:
        _obs, reward, terminated, truncated, _info = env.step(policy.act(env, rng))
        total += reward
        done = terminated or truncated
    return total


@dataclass
class DecisionPoint:
    env: PickEnv  # the state s_t (never stepped itself; forked)
    seed: int
    prefix_return: float
    action: str  # a_t


def decision_points(steps: int, count: int, policy: FixedPolicy, rng: np.random.Generator) -> list[DecisionPoint]:
    points = []
    for d in range(count):
        env = PickEnv(steps=steps)
        env.reset(seed=d)
        prefix = 0.0
        for _ in range(int(rng.integers(0, steps))):
            prefix += env.step(policy.act(env, rng))[1]
        points.append(DecisionPoint(env=env, seed=d, prefix_return=prefix, action=policy.act(env, rng)))
    return points


def full_trajectory_advantage(point: DecisionPoint, policy: FixedPolicy, k: int, rng: np.random.Generator) -> float:
    """a_t's episode, continued to the end, against k-1 episodes of the same task from the start."""
    env = point.env.fork()
    _obs, reward, terminated, truncated, _info = env.step(point.action)
    focal = point.prefix_return + reward + (0.0 if terminated or truncated else run_to_end(env, policy, rng))
    returns = [focal]
    for _ in range(k - 1):
        other = PickEnv(steps=point.env.steps)
        other.reset(seed=point.seed)
        returns.append(run_to_end(other, policy, rng))
    return float(group_advantages(returns, [0] * k, normalize_std=False)[0])


def step_level_advantage(point: DecisionPoint, policy: FixedPolicy, k: int, rng: np.random.Generator) -> float:
    """a_t's step reward (outcome included when it ends) against k-1 siblings forked from s_t."""
    actions = [point.action] + [policy.act(point.env, rng) for _ in range(k - 1)]
    rewards = [point.env.fork().step(action)[1] for action in actions]
    return float(group_advantages(rewards, [0] * k, normalize_std=False)[0])


def measure(steps: int, points: int, repeats: int, k: int, seed: int) -> dict[str, float]:
    """Mean over decision points of the variance (over repeats) of each advantage estimate."""
    rng = np.random.default_rng(seed)
    policy = FixedPolicy.make(steps, seed)
    var_full, var_step = [], []
    for point in decision_points(steps, points, policy, rng):
        full = [full_trajectory_advantage(point, policy, k, rng) for _ in range(repeats)]
        step = [step_level_advantage(point, policy, k, rng) for _ in range(repeats)]
        var_full.append(np.var(full, ddof=1))
        var_step.append(np.var(step, ddof=1))
    full_mean, step_mean = float(np.mean(var_full)), float(np.mean(var_step))
    return {"T": steps, "var_full": full_mean, "var_step": step_mean, "ratio": step_mean / full_mean}


def main(argv: Sequence[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="D=24 decision points, R=40 repeats")
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 4, 8], help="episode lengths T")
    parser.add_argument("--points", type=int, default=100, help="decision points D per T")
    parser.add_argument("--repeats", type=int, default=100, help="estimates R per decision point")
    parser.add_argument("-k", type=int, default=4, help="group size (episodes or siblings)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.repeats = 24, 40
    if args.k < 2 or args.points < 1 or args.repeats < 2:
        parser.error(f"expected k >= 2, points >= 1, repeats >= 2, got {args.k}, {args.points}, {args.repeats}")
    print(f"advantage variance, k={args.k}, {args.points} decision points x {args.repeats} repeats, seed {args.seed}")
    print(f"{'T':>3} {'var full-trajectory':>20} {'var step-level':>16} {'step/full':>10} {'seconds':>8}")
    rows = []
    for steps in args.steps:
        start = time.perf_counter()
        row = measure(steps, args.points, args.repeats, args.k, args.seed)
        rows.append(row)
        took = time.perf_counter() - start
        print(f"{steps:>3} {row['var_full']:>20.4f} {row['var_step']:>16.4f} {row['ratio']:>10.3f} {took:>8.1f}")
    print("ratio step/full: " + ", ".join(f"T={int(r['T'])}: {r['ratio']:.3f}" for r in rows))
    return rows


if __name__ == "__main__":
    main()
