"""Dialogue envs with a model-based user are reproducible to the bit: live twice, then replayed without the model."""

from __future__ import annotations

import pytest

import turngym
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.envs.dialogue.users import ModelUser
from turngym.envs.model_calls import HFClient, MissingModelCall, RecordedClient

SETTINGS = {"max_new_tokens": 12, "temperature": 1.0}


def play(env_id, user, seeds):
    """Oracle episodes against ``user``: each episode's transcript and summed reward."""
    env = turngym.make(env_id, user=user)
    results = []
    for seed in seeds:
        env.reset(seed=seed)
        total = 0.0
        while True:
            _, reward, terminated, truncated, _ = env.step(env.unwrapped.oracle_action())
            total += reward
            if terminated or truncated:
                break
        results.append((list(env.unwrapped.state.messages), total))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["turngym/Clarify-v0", "turngym/Support-v0"])
def test_same_seeds_same_transcripts_and_rewards_live_and_replayed(env_id, tmp_path):
    tok = tiny_tokenizer("bytes")
    model = tiny_model(tok, seed=3)
    record = tmp_path / "calls.jsonl"

    def live(mode):
        return ModelUser(RecordedClient(HFClient(model, tok, model_name="tiny"), record, mode), settings=SETTINGS)

    seeds = [0, 1, 2]
    first = play(env_id, live("record"), seeds)
    second = play(env_id, live("auto"), seeds)  # every call is in the record by now
    assert first == second
    replayed_user = ModelUser(RecordedClient(None, record, "replay"), settings=SETTINGS)
    assert play(env_id, replayed_user, seeds) == first  # no model at all
    assert any(m["role"] == "user" for transcript, _ in first for m in transcript[2:])  # the model user did speak
    with pytest.raises(MissingModelCall, match="tiny"):
        play(env_id, ModelUser(RecordedClient(None, record, "replay"), settings=SETTINGS), [7])
