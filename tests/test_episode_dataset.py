"""Episodes <-> Hugging Face datasets: oracle, scripted tool-call and tiny-model episodes round-trip through a
Dataset and save_to_disk; recorded JSONL converts to the same rows; SFT reads an exported directory."""

from __future__ import annotations

import doctest
import json

import datasets
import pytest
import torch

import turngym
from turngym.agents import OraclePolicy, ScriptedPolicy
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.agents.trajectory import TokenTrajectory
from turngym.baselines.sft import load_conversations
from turngym.engine import Engine, EpisodeTokens
from turngym.engine import dataset as episode_dataset
from turngym.engine.dataset import dataset_to_episodes, episodes_to_dataset, load_episodes, recording_to_dataset
from turngym.envs.echo import ECHO_WORDS
from turngym.envs.recording import RecordEpisodes


def play(env_id, policy, seeds, **kwargs):
    with turngym.make_vec(env_id, len(seeds), **kwargs) as vec:
        return Engine(vec, policy, max_turns=kwargs.get("max_turns")).play(seeds, generator=torch.Generator().manual_seed(0))


def saved_and_loaded(episodes, path):
    episodes_to_dataset(episodes).save_to_disk(str(path))
    return dataset_to_episodes(datasets.load_from_disk(str(path)))


@pytest.fixture(scope="module")
def model_episodes():
    tokenizer = tiny_tokenizer("words", [*ECHO_WORDS, "echo"])
    policy = HFPolicy(tiny_model(tokenizer, seed=3), tokenizer, max_new_tokens=3)
    return play("turngym/Echo-v0", policy, list(range(6)), max_turns=3)


@pytest.fixture(scope="module")
def oracle_episodes():
    return play("turngym/ToolCalc-v0", OraclePolicy(), [0, 1, 2], difficulty=2)


def test_oracle_episodes_round_trip_with_empty_token_columns(oracle_episodes, tmp_path):
    ds = episodes_to_dataset(oracle_episodes)
    assert ds.num_rows == 3 and ds[0]["token_ids"] == [] and ds[0]["logprobs"] == []
    assert ds[0]["stop_reason"] == "answered" and ds[0]["outcome"] == 1.0
    assert ds[0]["total_reward"] == pytest.approx(oracle_episodes[0].total_reward)
    assert {p["name"] for turn in ds[0]["reward_parts"] for p in turn} >= {"outcome", "valid_tool_call"}
    assert json.loads(ds[0]["messages"][0])["role"] == "system"
    assert dataset_to_episodes(ds) == oracle_episodes
    assert saved_and_loaded(oracle_episodes, tmp_path / "ds") == oracle_episodes
    assert load_episodes(tmp_path / "ds") == oracle_episodes


def test_model_episodes_keep_exact_tokens_masks_and_logprobs(model_episodes, tmp_path):
    assert all(e.trajectory.token_ids and any(e.trajectory.logprobs) for e in model_episodes)
    loaded = saved_and_loaded(model_episodes, tmp_path / "ds")
    assert loaded == model_episodes
    for a, b in zip(loaded, model_episodes, strict=True):
        assert a.trajectory.logprobs == b.trajectory.logprobs  # bit-exact floats, not approx
        assert a.turn_token_spans == b.turn_token_spans and isinstance(a.turn_token_spans[0], tuple)
        assert a.finish_reasons == b.finish_reasons and a.seed == b.seed


def test_tool_calls_and_arbitrary_content_round_trip(tmp_path):
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"item": "x"}'}}],
    }
    episodes = play("turngym/ToolCalc-v0", ScriptedPolicy(lambda conversation: call), [4], max_turns=2)
    assert call in episodes[0].conversation and any(m["role"] == "tool" for m in episodes[0].conversation)
    odd = [
        {"role": "user", "content": 'é 漢字 \ud800 lone surrogate, "quotes"\n\x00'},
        {"role": "assistant", "content": [{"type": "text", "text": "parts"}], "extra": {"nested": [1, 2.5, None, True]}},
    ]
    handmade = EpisodeTokens(TokenTrajectory(messages=odd), [0.5], 0.0, "error", "t", [], error="boom", step_metrics=[{}])
    assert saved_and_loaded([*episodes, handmade], tmp_path / "ds") == [*episodes, handmade]


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(TypeError, match="expected EpisodeTokens at index 0, got dict"):
        episodes_to_dataset([{"messages": []}])
    with pytest.raises(ValueError, match="without the columns .*'token_ids'"):
        dataset_to_episodes(datasets.Dataset.from_dict({"messages": [["{}"]]}))
    with pytest.raises(TypeError, match="expected a datasets.Dataset of episodes, got list"):
        dataset_to_episodes([])
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"a": [1]})}).save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(ValueError, match="expected one Dataset of episodes .* got a DatasetDict"):
        load_episodes(tmp_path / "dict")


def test_recorded_jsonl_converts_to_the_engines_rows(tmp_path):
    path = tmp_path / "episodes.jsonl"
    env = RecordEpisodes(turngym.make("turngym/ToolCalc-v0", difficulty=2), path)
    for seed in (0, 1, 2, 3):
        env.reset(seed=seed)
        done = seed == 3 and env.step("a malformed action")[2]
        while not done:
            *_, terminated, truncated, _ = env.step(env.unwrapped.oracle_action())
            done = terminated or truncated
    env.close()
    *recorded, malformed_first = dataset_to_episodes(recording_to_dataset(path))
    assert malformed_first.turns == 4 and malformed_first.stop_reason == "answered" and malformed_first.error is None
    assert "Invalid action" in malformed_first.conversation[3]["content"]
    played = play("turngym/ToolCalc-v0", OraclePolicy(), [0, 1, 2], difficulty=2)
    for r, p in zip(recorded, played, strict=True):
        assert r.conversation == p.conversation and r.actions == p.actions
        assert (r.rewards, r.reward_parts, r.outcome) == (p.rewards, p.reward_parts, p.outcome)
        assert (r.stop_reason, r.task_id, r.seed, r.error) == (p.stop_reason, p.task_id, p.seed, p.error)
        assert r.trajectory.token_ids == [] and r.turn_token_spans == []


def test_sft_reads_successful_episodes_of_an_exported_directory(oracle_episodes, model_episodes, tmp_path):
    mixed = [*oracle_episodes, *model_episodes]
    assert any(e.success for e in mixed) and not all(e.success for e in mixed)
    episodes_to_dataset(mixed).save_to_disk(str(tmp_path / "ds"))
    conversations = load_conversations(str(tmp_path / "ds"))
    assert conversations == [e.conversation for e in mixed if e.success]
    assert len(load_conversations(str(tmp_path / "ds"), only_successful=False)) == len(mixed)
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="expected a recorded-episodes JSONL file or a directory saved by"):
        load_conversations(str(tmp_path / "plain"))


def test_the_module_example_runs():
    result = doctest.testmod(episode_dataset)
    assert result.attempted > 0 and result.failed == 0
