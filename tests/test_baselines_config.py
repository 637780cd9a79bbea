"""Trainer configs: YAML, typed --set overrides, checks, help."""

from __future__ import annotations

import pytest

from turngym.baselines.config import (
    ConfigError,
    GRPOConfig,
    ReinforceConfig,
    TrainConfig,
    config_help,
    load_config,
    save_config,
)


def test_yaml_and_overrides_are_typed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("algo: grpo\nsteps: 5\nenv_kwargs: {words: [apple, river]}\nlr: 1e-3\n")
    config = load_config(path, ["group_size=4", "temperature=2", "env_kwargs.max_turns=2", "lora={r: 4}", "tensorboard=false"])
    assert isinstance(config, GRPOConfig)
    assert config.steps == 5 and config.group_size == 4
    assert config.temperature == 2.0 and isinstance(config.temperature, float)
    assert config.lr == pytest.approx(1e-3) and isinstance(config.lr, float)
    assert config.env_kwargs == {"words": ["apple", "river"], "max_turns": 2}
    assert config.lora == {"r": 4} and config.tensorboard is False


def test_algo_argument_wins_over_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("algo: grpo\ngamma: 0.9\n")
    config = load_config(path, algo="reinforce_rebn")
    assert isinstance(config, ReinforceConfig) and config.gamma == 0.9
    assert config.to_dict()["algo"] == "reinforce_rebn"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["stepz=3"], "expected a key of GRPOConfig.*got 'stepz'"),
        (["steps=many"], "steps: expected int, got 'many'"),
        (["steps=2.5"], "steps: expected int, got 2.5"),
        (["lr=-1"], "lr: expected a float > 0, got -1.0"),
        (["group_size=1"], "group_size: expected an int >= 2"),
        (["tiny_tokenizer=chars"], r"tiny_tokenizer: expected one of \['bytes', 'words'\], got 'chars'"),
        (["tiny_words=apple"], "tiny_words: expected list"),
        (["model=/no/such/folder"], 'model: expected "tiny" or an existing local model folder'),
        (["tensorboard=maybe"], "tensorboard: expected bool, got 'maybe'"),
        (["steps"], "expected key=value, got 'steps'"),
        (["clip_eps=1.5"], r"clip_eps: expected a float in \(0, 1\)"),
    ],
)
def test_bad_keys_and_values_say_what_was_expected(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_unknown_algo_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="algo must be one of"):
        load_config(None, algo="ppo")
    path = tmp_path / "c.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a YAML mapping"):
        load_config(path)


def test_sft_needs_an_existing_data_file(tmp_path):
    with pytest.raises(ConfigError, match="data: expected an existing JSONL"):
        load_config(None, ["data=nope.jsonl"], algo="sft")
    data = tmp_path / "d.jsonl"
    data.write_text("")
    assert load_config(None, [f"data={data}"], algo="sft").data == str(data)


def test_lists_and_dicts_are_not_shared_between_instances():
    a, b = TrainConfig(), TrainConfig()
    a.stop.append("x")
    a.env_kwargs["k"] = 1
    assert "x" not in b.stop and b.env_kwargs == {}


def test_saved_config_loads_back_equal(tmp_path):
    config = load_config(None, ["steps=7", "tiny_words=[apple, echo]"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


def test_every_field_has_help():
    rows = config_help(GRPOConfig)
    assert {r[0] for r in rows} >= {"env_id", "lr", "group_size", "clip_eps", "normalize_std"}
    assert all(r[3] for r in rows), [r[0] for r in rows if not r[3]]
