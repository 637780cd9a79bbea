"""The Ray vector env on a local Ray cluster (this process, 2 CPUs): the sync env's results, subsets,
autoreset, fork across actors, and a dead or hung actor ending only its episodes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import crash_env  # registers tests/Crash-v0 (the actors import it through PYTHONPATH)
import pytest

import turngym
from turngym.agents import OraclePolicy
from turngym.engine import Engine
from turngym.envs.errors import ResetNeeded
from turngym.envs.info import StopReason
from turngym.envs.vector import WorkerDied

ray = pytest.importorskip("ray", reason="the Ray vector env needs the [ray] extra")
pytestmark = [pytest.mark.slow, pytest.mark.ray]

TOOLCALC = "turngym/ToolCalc-v0"
GUESS = "turngym/GuessNumber-v0"
CRASH = crash_env.ENV_ID
GARBAGE = "I am not sure what to do."
TESTS = str(Path(__file__).resolve().parent)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", runtime_env={"env_vars": {"PYTHONPATH": TESTS}})
    yield
    ray.shutdown()


@pytest.fixture
def make():
    made = []

    def _make(env_id, num_envs, mode="ray", **kwargs):
        vec = turngym.make_vec(env_id, num_envs, mode=mode, **kwargs)
        made.append(vec)
        return vec

    yield _make
    for vec in made:
        vec.close()


def _script(vec, rounds):
    """Env 0 plays the oracle, env 1 garbage, env 2 alternates; from round 3 only envs 0 and 2 step."""
    results = []
    for r in range(rounds):
        oracle = vec.call("oracle_action")
        actions = [oracle[0], GARBAGE, oracle[2] if r % 2 else {"role": "assistant", "content": None}]
        step = vec.step(actions) if r < 3 else vec.step({0: actions[0], 2: actions[2]})
        results.append((step.obs, step.rewards, step.terminated, step.truncated, step.infos, step.reset_obs, step.reset_infos))
    return results


@pytest.mark.parametrize(
    "options", [{"num_actors": 2}, {"num_actors": 3, "max_concurrency": 1}, {"num_actors": 1, "max_concurrency": 3}]
)
def test_ray_gives_the_sync_results(make, options):
    sync = make(TOOLCALC, 3, mode="sync", autoreset=True, difficulty=(1, 3))
    vec = make(TOOLCALC, 3, autoreset=True, difficulty=(1, 3), ray=options)
    assert vec.reset(seed=7) == sync.reset(seed=7)
    ours, theirs = _script(vec, 9), _script(sync, 9)
    assert ours == theirs
    assert any(reset_obs for *_, reset_obs, _ in ours)  # episodes ended and were reset
    # the contexts came back too (hooks score them in the driver)
    step = vec.step(vec.call("oracle_action"))
    assert all(ctx is not None for ctx in step.contexts)


def test_envs_are_spread_round_robin_over_the_actors(make):
    vec = make(CRASH, 4, ray={"num_actors": 2})
    vec.reset(seed=0)
    pids = vec.call("pid")
    assert pids[0] == pids[2] and pids[1] == pids[3] and pids[0] != pids[1]
    assert os.getpid() not in pids
    # a batch of one is not always sent to the same actor
    assert vec.call("pid", indices=[1]) == {1: pids[1]}


def test_subsets_are_ragged_and_leave_the_others_untouched(make):
    vec = make(GUESS, 3, high=1000)
    vec.reset(seed=3)
    for turn in range(1, 4):
        step = vec.step({0: "<guess>1</guess>", 2: "<guess>2</guess>"})
        assert sorted(step.obs) == [0, 2] and step.infos[0]["turn"] == step.infos[2]["turn"] == turn
    alone = turngym.make(GUESS, high=1000)
    alone.reset(seed=4)
    expected = alone.step("<guess>500</guess>")
    step = vec.step({1: "<guess>500</guess>"})
    assert (step.obs[1], step.rewards[1], step.terminated[1], step.truncated[1], step.infos[1]) == expected
    assert vec.step({}).obs == {}


def test_autoreset_keeps_the_final_step(make):
    vec = make(GUESS, 2, autoreset=True, max_invalid_actions=2)
    _, first = vec.reset(seed=0)
    vec.step([GARBAGE, "<guess>1</guess>"])
    step = vec.step([GARBAGE, "<guess>2</guess>"])
    assert step.truncated[0] and step.infos[0]["stop_reason"] == StopReason.INVALID_ACTIONS
    assert step.infos[0]["task_id"] == first[0]["task_id"]
    assert list(step.reset_obs) == [0] and step.reset_infos[0]["turn"] == 0
    assert vec.step({0: "<guess>50</guess>"}).infos[0]["turn"] == 1


def test_without_autoreset_a_finished_env_needs_reset(make):
    vec = make(GUESS, 2, max_invalid_actions=1)
    with pytest.raises(ResetNeeded):
        vec.step([GARBAGE, GARBAGE])
    vec.reset(seed=0)
    assert vec.step({0: GARBAGE}).truncated[0]
    with pytest.raises(ResetNeeded):
        vec.step({1: "<guess>10</guess>", 0: GARBAGE})
    assert vec.step({1: "<guess>10</guess>"}).infos[1]["turn"] == 1


def test_fork_across_actors_continues_like_the_sync_fork(make):
    sync = make(GUESS, 4, mode="sync", high=1000)
    vec = make(GUESS, 4, high=1000, ray={"num_actors": 2})
    for v in (sync, vec):
        v.reset(seed=11)
        v.step({0: "<guess>400</guess>"})
        v.fork({0: [1, 2, 3]})  # envs 1 and 3 live in the other actor
    guesses = ["<guess>10</guess>", "<guess>700</guess>", "<guess>300</guess>", "<guess>999</guess>"]
    ours, theirs = vec.step(guesses), sync.step(guesses)
    assert (ours.obs, ours.rewards, ours.infos) == (theirs.obs, theirs.rewards, theirs.infos)
    assert [info["turn"] for info in ours.infos] == [2, 2, 2, 2]


def test_call_errors_and_bad_arguments(make):
    vec = make(TOOLCALC, 2, difficulty=1)
    with pytest.raises(ResetNeeded):
        vec.call("oracle_action")
    vec.reset(seed=0)
    with pytest.raises(AttributeError):
        vec.call("no_such_method")
    assert vec.call("render") == [None, None]
    with pytest.raises(ValueError, match="high must be an int"):
        turngym.make_vec(GUESS, 2, mode="ray", high=1)
    with pytest.raises(ValueError, match="num_actors must be an int >= 1"):
        turngym.make_vec(GUESS, 2, mode="ray", ray={"num_actors": 0})
    with pytest.raises(ValueError, match="apply to mode='ray'"):
        turngym.make_vec(GUESS, 2, ray={"num_actors": 2})
    vec.close()
    with pytest.raises(RuntimeError, match="closed"):
        vec.reset()


def test_an_exception_inside_step_is_an_error_step_and_the_actor_stays(make):
    vec = make(CRASH, 2, ray={"num_actors": 1})
    vec.reset(seed=0)
    pid = vec.call("pid")[0]
    step = vec.step(["RAISE", "hi"])
    assert step.infos[0]["stop_reason"] == StopReason.ERROR and "CrashEnv was told to raise" in step.infos[0]["error"]
    assert step.obs[1] == [{"role": "user", "content": "echo: 1"}]
    vec.reset(indices=[0])
    assert vec.call("pid") == [pid, pid] and vec.restarts == [0, 0]


def test_a_dead_actor_ends_its_episodes_as_errors_and_is_restarted(make):
    vec = make(CRASH, 4, ray={"num_actors": 2})
    _, infos = vec.reset(seed=0)
    pids = vec.call("pid")
    vec.step(["hi"] * 4)
    step = vec.step({0: "hi", 1: "CRASH", 2: "hi"})  # env 1's actor also holds env 3, which is not stepped
    assert step.truncated == {0: False, 1: True, 2: False}
    info = step.infos[1]
    assert info["stop_reason"] == StopReason.ERROR and "Ray actor 1 died" in info["error"]
    assert info["task_id"] == infos[1]["task_id"] and info["turn"] == 2 and step.rewards[1] == 0.0
    assert step.obs[0] == step.obs[2] == [{"role": "user", "content": "echo: 2"}]
    assert vec.restarts == [0, 1, 0, 1]
    # env 3 lost its episode with the actor: its next step says so, without reaching an env
    step = vec.step({3: "hi", 0: "hi"})
    assert step.infos[3]["stop_reason"] == StopReason.ERROR and "episode was lost" in step.infos[3]["error"]
    assert step.infos[3]["task_id"] == infos[3]["task_id"] and step.infos[3]["turn"] == 2
    assert step.obs[0] == [{"role": "user", "content": "echo: 3"}]
    with pytest.raises(ResetNeeded):
        vec.step({1: "hi"})
    vec.reset(indices=[1, 3], seed=[1, 3])
    new = vec.call("pid")
    assert new[0] == pids[0] and new[1] == new[3] != pids[1]  # Ray restarted actor 1 in a new process
    assert vec.step(["hi"] * 4).obs == [[{"role": "user", "content": f"echo: {t}"}] for t in (4, 1, 3, 1)]


def test_an_actor_killed_between_calls_is_found_restarted(make):
    vec = make(CRASH, 2, ray={"num_actors": 2})
    vec.reset(seed=0)
    os.kill(vec.call("pid")[0], signal.SIGKILL)
    time.sleep(1.0)  # Ray restarts the actor before the next call
    step = vec.step(["hi", "hi"])
    assert step.infos[0]["stop_reason"] == StopReason.ERROR and "Ray actor 0" in step.infos[0]["error"]
    assert step.obs[1] == [{"role": "user", "content": "echo: 1"}]
    obs, infos = vec.reset(seed=0)
    assert [info["turn"] for info in infos] == [0, 0]
    with pytest.raises(WorkerDied):  # a call that meets a dead actor says so
        vec.call("step", "CRASH", indices=[1])


def test_a_hung_step_times_out_and_the_actor_is_replaced(make):
    vec = make(CRASH, 3, step_timeout=1.0, ray={"num_actors": 3})
    vec.reset(seed=0)
    start = time.monotonic()
    step = vec.step(["HANG", "hi", "hi"])
    assert 1.0 <= time.monotonic() - start < 30
    assert step.truncated == [True, False, False]
    assert "did not answer within 1.0 s" in step.infos[0]["error"]
    vec.reset(indices=[0])
    assert vec.step(["hi", "hi", "hi"]).obs == [[{"role": "user", "content": f"echo: {t}"}] for t in (1, 2, 2)]


def test_engine_replays_the_seeds_of_broken_episodes(make):
    vec = make(CRASH, 2, ray={"num_actors": 2})
    broken = iter([True, False])  # the first episode of seed 5 crashes its actor, its replay does not

    class CrashOnce:
        def act_envs(self, vec, indices):
            oracle = OraclePolicy().act_envs(vec, indices)
            seeds = {i: vec.get_attr("np_random_seed", indices=[i])[i] for i in indices}
            return {i: "CRASH" if seeds[i] == 5 and next(broken, False) else a for i, a in oracle.items()}

    seen = []
    episodes = Engine(vec, CrashOnce()).play([4, 5, 6], on_episode=seen.append, retry_errors=1)
    assert [e.seed for e in episodes] == [4, 5, 6] and all(e.success for e in episodes)
    errors = [e for e in seen if e.stop_reason == StopReason.ERROR]
    assert [e.seed for e in errors] == [5] and "Ray actor" in errors[0].error
    assert len(seen) == 4
    with pytest.raises(ValueError, match="retry_errors"):
        Engine(vec, OraclePolicy()).play([1], retry_errors=-1)
