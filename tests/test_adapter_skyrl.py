"""The SkyRL-Gym adapter, driven through skyrl-gym's registry the way skyrl-train's generator drives envs."""

from __future__ import annotations

import copy

import datasets
import pytest
import skyrl_gym
from omegaconf import DictConfig

import turngym
from turngym.adapters.skyrl import ENTRY_POINT, dataset_rows, register_all
from turngym.envs.errors import EnvArgumentError, UnknownEnvError
from turngym.envs.registration import registered_ids

GENERATOR_MAX_TURNS = 8  # skyrl-train writes generator.max_turns into every row's extras


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_all()


def load_rows(rows, tmp_path):
    """Rows through parquet and back, split as skyrl-train's PromptDataset does: (prompt, env_class, extras)."""
    path = tmp_path / "train.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    loaded = datasets.load_dataset("parquet", data_files=str(path), cache_dir=str(tmp_path / "cache"))["train"]
    out = []
    for row in loaded:
        prompt, env_class = row.pop("prompt"), row.pop("env_class")
        out.append((prompt, env_class, row))
    return out


def generator_episode(prompt, env_class, extras, env_config, act):
    """skyrl-train's agent loop, minus the model: make, init(chat_history), step until done, metrics, close."""
    extras = {**extras, "max_turns": GENERATOR_MAX_TURNS}
    env = skyrl_gym.make(env_class, env_config=env_config, extras=extras)
    chat_history, _ = env.init(copy.deepcopy(prompt))
    steps, done = [], False
    while not done:
        action = act(env)
        out = env.step(action)
        steps.append((action, out))
        done = out["done"]
    metrics = env.get_metrics()
    env.close()
    return chat_history, steps, metrics


def oracle(env):
    return env.env.oracle_action()


def test_register_all_puts_every_id_in_skyrl_gym_once():
    assert register_all() == registered_ids()  # a second call is a no-op
    for env_id in registered_ids():
        assert skyrl_gym.registry[env_id].entry_point == ENTRY_POINT


@pytest.mark.parametrize(
    "env_id, env_kwargs, seeds",
    [("turngym/GuessNumber-v0", {"high": 50}, [0, 1, 2]), ("turngym/ToolCalc-v0", {}, [0, 1])],
)
def test_oracle_episodes_match_the_turngym_env(env_id, env_kwargs, seeds, tmp_path):
    for prompt, env_class, extras in load_rows(dataset_rows(env_id, seeds, **env_kwargs), tmp_path):
        assert env_class == env_id
        chat_history, steps, metrics = generator_episode(prompt, env_class, extras, DictConfig(env_kwargs), oracle)
        last = steps[-1][1]
        assert last["metadata"]["stop_reason"] == "answered" and last["metadata"]["terminated"]
        assert last["metadata"]["reward_parts"]["outcome"] == 1.0 and metrics["outcome"] == 1.0
        assert metrics["turns"] == len(steps)
        # the same actions on a plain turngym env give the same prompt, observations and rewards
        ref = turngym.make(env_id, max_turns=GENERATOR_MAX_TURNS, **env_kwargs)
        messages, _ = ref.reset(seed=extras["seed"])
        assert chat_history == messages == prompt
        for action, out in steps:
            obs, reward, terminated, truncated, info = ref.step(action)
            assert (out["observations"], out["reward"], out["done"]) == (obs, reward, terminated or truncated)
            assert out["metadata"]["reward_parts"] == info["reward_parts"]
    if env_id == "turngym/ToolCalc-v0":
        assert steps[0][1]["observations"][0]["role"] == "tool"
        assert steps[0][1]["reward"] > 0  # the env's valid-tool-call process reward


def test_garbage_action_is_an_error_observation_and_the_episode_goes_on():
    [row] = dataset_rows("turngym/ToolUse-v0", [3])
    actions = iter(["<tool_call>{not json", "hello"])
    placeholder = [{"role": "user", "content": "a dataset prompt the env replaces"}]
    chat_history, steps, metrics = generator_episode(
        placeholder, row["env_class"], {"seed": 3}, {}, lambda e: next(actions, None) or oracle(e)
    )
    assert chat_history == row["prompt"]
    for _, out in steps[:2]:
        assert not out["done"] and out["metadata"]["error"]
        assert out["reward"] < 0.0  # ToolUse's malformed-action penalty, scored by the env
        assert out["observations"][-1]["content"].startswith("Invalid action")
    assert steps[-1][1]["metadata"]["stop_reason"] == "answered"
    assert metrics["invalid_actions"] == 2 and metrics["outcome"] == 1.0


def test_generator_max_turns_sets_the_budget_unless_env_config_does():
    extras = {"seed": 0, "max_turns": 1}
    env = skyrl_gym.make("turngym/GuessNumber-v0", env_config=DictConfig({}), extras=extras)
    env.init([])
    out = env.step("<guess>0</guess>")
    assert out["done"] and out["metadata"]["stop_reason"] == "max_turns" and out["metadata"]["truncated"]
    env = skyrl_gym.make("turngym/GuessNumber-v0", env_config={"max_turns": 5}, extras=extras)
    assert env.env.max_turns == 5


def test_bad_input_errors_clearly():
    with pytest.raises(skyrl_gym.error.Error, match="No registered env with id: turngym/GuesNumber-v0"):
        skyrl_gym.make("turngym/GuesNumber-v0", env_config={}, extras={"seed": 0})
    with pytest.raises(UnknownEnvError, match="did you mean 'turngym/GuessNumber-v0'"):
        register_all(["turngym/GuesNumber-v0"])
    with pytest.raises(UnknownEnvError, match="did you mean"):
        dataset_rows("turngym/GuesNumber-v0", [0])
    with pytest.raises(EnvArgumentError, match="extras must hold a non-negative int 'seed'.*got None"):
        skyrl_gym.make("turngym/Echo-v0", env_config={}, extras={"max_turns": 2})
    with pytest.raises(EnvArgumentError, match="unexpected keyword argument 'hgh'"):
        skyrl_gym.make("turngym/GuessNumber-v0", env_config={"hgh": 3}, extras={"seed": 0})
    with pytest.raises(EnvArgumentError, match="env_config must be a mapping"):
        skyrl_gym.make("turngym/Echo-v0", env_config=[1], extras={"seed": 0})
    env = skyrl_gym.make("turngym/Echo-v0", env_config={}, extras={"seed": 0})
    with pytest.raises(turngym.envs.errors.ResetNeeded, match="call init"):
        env.step("hi")


def test_an_id_skyrl_gym_holds_for_another_env_is_an_error():
    skyrl_gym.envs.registration.deregister("turngym/Echo-v0")
    skyrl_gym.register(id="turngym/Echo-v0", entry_point="skyrl_gym.envs.gsm8k.env:GSM8kEnv")
    try:
        with pytest.raises(EnvArgumentError, match="already registers 'turngym/Echo-v0'"):
            register_all(["turngym/Echo-v0"])
    finally:
        skyrl_gym.envs.registration.deregister("turngym/Echo-v0")
        register_all(["turngym/Echo-v0"])


def test_a_broken_env_ends_its_episode_with_an_error_not_an_exception():
    import crash_env  # registers tests/Crash-v0

    register_all([crash_env.ENV_ID])
    env = skyrl_gym.make(crash_env.ENV_ID, env_config={}, extras={"seed": 0})
    env.init([])
    out = env.step("RAISE")
    assert out["done"] and out["reward"] == 0.0
    assert out["metadata"]["stop_reason"] == "error" and out["metadata"]["trainable"] is False
    assert "told to raise" in out["metadata"]["error"]
    env.close()
