"""The conformance checks fail on envs that break the contract (so they can fail at all)."""

from __future__ import annotations

import random

import pytest

import turngym
from turngym.envs import AgentEnv, Task
from turngym.envs.conformance import check, check_determinism, check_episode_state, check_fork, check_fuzz, check_gymnasium


class _Base(AgentEnv):
    """A test env."""

    def _make_task(self, options):
        n = int(self.np_random.integers(1000))
        return Task(id=f"t{n}", prompt=f"Say {n}.", answer=str(n))


class UsesGlobalRandom(_Base):
    """Draws its task from the global ``random`` module: not seeded."""

    def _make_task(self, options):
        n = random.randint(0, 10**9)
        return Task(id=f"t{n}", prompt=f"Say {n}.", answer=str(n))


class SharedStateFork(_Base):
    """Keeps its episode log on the class, so a fork shares it with the original."""

    log: list = []

    def step(self, action):
        self.log.append(action)
        obs, reward, terminated, truncated, info = super().step(action)
        return [*obs, {"role": "user", "content": f"{len(self.log)} actions so far"}], reward, terminated, truncated, info

    def reset(self, *, seed=None, options=None):
        self.log.clear()
        return super().reset(seed=seed, options=options)


class CountsCalls(_Base):
    """Counts its steps on the env, where a fork copies the count but a reset never clears it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = 0

    def step(self, action):
        self.calls += 1
        return super().step(action)


class AppendsToList(_Base):
    """Logs actions in a list made in ``__init__``: a fork appends to the original's list."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def step(self, action):
        self.seen.append(action)
        return super().step(action)


class EditsTheSharedTask(_Base):
    """Counts tries in the task's facts, which a fork shares with the original (only forks see it)."""

    def _make_task(self, options):
        task = super()._make_task(options)
        return Task(id=task.id, prompt=task.prompt, answer=task.answer, facts={"tries": 0})

    def step(self, action):
        self._state().task.facts["tries"] += 1
        return super().step(action)


class RaisesOnGarbage(_Base):
    """Trusts that actions are strings."""

    def step(self, action):
        action.strip()
        return super().step(action)


class CountsResets(_Base):
    """Says how many resets it has seen: the same seed and action give another observation."""

    resets = 0

    def reset(self, *, seed=None, options=None):
        self.resets += 1
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return [*obs, {"role": "user", "content": f"reset {self.resets} times"}], reward, terminated, truncated, info


class WarnsInGymnasium(_Base):
    """Declares a render mode it cannot render."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 1}


@pytest.fixture(scope="module", autouse=True)
def registered():
    bad = (
        UsesGlobalRandom,
        SharedStateFork,
        CountsCalls,
        AppendsToList,
        EditsTheSharedTask,
        RaisesOnGarbage,
        CountsResets,
        WarnsInGymnasium,
    )
    for cls in (*bad, _Base):
        turngym.register(f"tests/{cls.__name__}-v0", entry_point=cls)


def test_a_good_env_passes_everything():
    assert all(r.ok for r in check("tests/_Base-v0", fuzz_actions=100))


def test_unseeded_randomness_fails_determinism():
    with pytest.raises(AssertionError, match="differ"):
        check_determinism("tests/UsesGlobalRandom-v0")


def test_state_shared_between_fork_and_original_fails_fork():
    with pytest.raises(AssertionError, match="after a fork differs"):
        check_fork("tests/SharedStateFork-v0")


@pytest.mark.parametrize(
    ("env_id", "message"),
    [
        ("tests/CountsCalls-v0", r"oracle step 1 changed calls on the env"),
        ("tests/AppendsToList-v0", r"oracle step 1 changed seen on the env"),
        ("tests/SharedStateFork-v0", r"changed SharedStateFork\.log \(a class attribute\)"),
        ("tests/EditsTheSharedTask-v0", r"step 1 of a fork changed state of the original"),
    ],
)
def test_episode_state_outside_the_episode_fails_the_episode_state_check(env_id, message):
    with pytest.raises(AssertionError, match=message):
        check_episode_state(env_id)


def test_a_fork_that_edits_what_it_shares_fails_even_when_the_env_alone_passes():
    class ForksLogInAList(_Base):
        """Only a fork appends to the list made in ``__init__``, so the original alone keeps its attributes."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.fork_log = []

        def fork(self):
            new = super().fork()
            new.is_fork = True
            return new

        def step(self, action):
            if getattr(self, "is_fork", False):
                self.fork_log.append(action)
            return super().step(action)

    turngym.register("tests/ForksLogInAList-v0", entry_point=ForksLogInAList)
    with pytest.raises(AssertionError, match=r"step 1 of a fork changed fork_log of the original"):
        check_episode_state("tests/ForksLogInAList-v0")


def test_an_exception_on_garbage_fails_fuzz():
    with pytest.raises(AssertionError, match="raised AttributeError"):
        check_fuzz("tests/RaisesOnGarbage-v0", n=50)


def test_gymnasium_warnings_fail_the_gymnasium_check():
    with pytest.raises(Exception):  # noqa: B017  (Gymnasium raises or warns depending on the problem)
        check_gymnasium("tests/WarnsInGymnasium-v0")


def test_a_step_that_differs_after_the_same_seed_fails_the_gymnasium_check_with_the_difference():
    with pytest.raises(AssertionError, match="different observations") as failure:
        check_gymnasium("tests/CountsResets-v0")
    assert '-  "content": "reset 1 times"' in str(failure.value) and '+  "content": "reset 2 times"' in str(failure.value)


def test_check_reports_failures_instead_of_raising():
    results = {r.name: r for r in check("tests/RaisesOnGarbage-v0", fuzz_actions=20)}
    assert not results["fuzz"].ok and "AttributeError" in results["fuzz"].detail
