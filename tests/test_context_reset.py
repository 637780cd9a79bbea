"""Episodes made of several contexts: an env that resets its context, the engine, the trainers, records and SFT."""

from __future__ import annotations

import chunk_env  # registers tests/ChunkRecall-v0
import numpy as np
import pytest
import torch

import turngym
from turngym.agents import OraclePolicy
from turngym.agents.chat_tokens import prompt_ids
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.baselines.sft import load_conversations
from turngym.baselines.step_grpo import sample_step_groups
from turngym.baselines.update import episode_sequences, policy_update
from turngym.engine import Engine
from turngym.engine.dataset import dataset_to_episodes, episodes_to_dataset, recording_to_dataset


@pytest.fixture(scope="module")
def policy():
    tokenizer = tiny_tokenizer("bytes")
    return HFPolicy(tiny_model(tokenizer, seed=0), tokenizer, max_new_tokens=8)


def test_the_env_says_when_its_observation_is_a_new_context():
    env = turngym.make(chunk_env.ENV_ID)
    obs, info = env.reset(seed=0)
    assert info["new_context"] is False and obs[0]["role"] == "system"
    obs, _, _, _, info = env.step("key stone")
    assert info["new_context"] is True and obs[0]["role"] == "system" and "Memory: key stone" in obs[0]["content"]
    fork = env.unwrapped.fork()
    state = env.unwrapped.state
    assert state.context_starts == [0, 3] and [len(c) for c in state.contexts] == [3, 2]
    fork.step("something else")
    assert state.context_starts == [0, 3] and fork.state.context_starts == [0, 3, 6]
    while True:
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        if terminated or truncated:
            break
    assert info["new_context"] is False and len(state.contexts) == 4  # the answer closes the last context


def test_a_terminal_step_never_opens_a_context():
    env = turngym.make(chunk_env.ENV_ID, chunks=3, max_turns=2)
    env.reset(seed=0)
    env.step("key a")
    *_, truncated, info = env.step("key b")  # max_turns ends the episode on a step that would reset the context
    assert truncated and info["stop_reason"] == "max_turns" and info["new_context"] is False
    assert env.unwrapped.state.context_starts == [0, 3]


def test_the_engine_starts_a_trajectory_per_context(policy):
    with turngym.make_vec(chunk_env.ENV_ID, 2) as vec:
        oracle = Engine(vec, OraclePolicy()).play([0, 1])
        sampled = Engine(vec, policy).play([0, 1, 2], generator=torch.Generator().manual_seed(0))
    for episode in oracle:
        assert episode.success and len(episode.trajectories) == 4 and episode.turn_contexts == [0, 1, 2, 3]
        assert [m["role"] for m in episode.trajectories[1].messages] == ["system", "user", "assistant"]
        assert len(episode.conversation) == sum(len(t.messages) for t in episode.trajectories)
    for episode in sampled:
        contexts = episode.trajectories
        assert len(contexts) == episode.turns == len(episode.turn_contexts)
        for index, traj in enumerate(contexts):
            # each context is tokenised from its own messages: the new system prompt first, nothing of the last one
            start = prompt_ids(policy.tokenizer, traj.messages[:2], policy.tools, tool_role=policy.tool_role)
            assert traj.token_ids[: len(start)] == start and sum(traj.mask[: len(start)]) == 0
            assert len(traj.turn_starts) == 1 and traj.turn_starts[0] == len(start)
            span = episode.turn_token_spans[index]
            assert traj.token_ids[span[0] : span[1]] == traj.policy_token_ids()
        assert episode.policy_token_count() == sum(t.policy_token_count() for t in contexts)


def test_every_context_is_trained_on_with_its_turns_values(policy):
    with turngym.make_vec(chunk_env.ENV_ID, 2) as vec:
        episodes = Engine(vec, policy).play([0, 1], generator=torch.Generator().manual_seed(1))
    values = [[0.5 * (i + 1)] * e.turns for i, e in enumerate(episodes)]
    trajectories, advantages = episode_sequences(episodes, values)
    assert len(trajectories) == sum(e.turns for e in episodes)
    for traj, adv in zip(trajectories, advantages, strict=True):
        sampled = torch.tensor(traj.mask, dtype=torch.bool)
        assert adv[sampled].unique().numel() == 1 and adv[sampled][0] in (0.5, 1.0)
    model = tiny_model(policy.tokenizer, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    stats = policy_update(model, optimizer, trajectories, advantages, pad_id=policy.tokenizer.pad_token_id)
    assert stats["loss/tokens"] == sum(e.policy_token_count() for e in episodes)
    with pytest.raises(ValueError, match="one value per turn"):
        episode_sequences(episodes, [[1.0], [1.0]])


def test_step_level_branching_happens_at_every_chunk(policy):
    with turngym.make_vec(chunk_env.ENV_ID, 6) as vec:
        rollout = sample_step_groups(
            Engine(vec, policy), [0, 1], k=3, rng=np.random.default_rng(0), generator=torch.Generator().manual_seed(2)
        )
    for episode in rollout.episodes:
        groups = [g for g in rollout.groups if g.task_id == episode.task_id]
        assert len(groups) == episode.turns
        for group, traj in zip(groups, episode.trajectories, strict=False):
            # the siblings of chunk t share the prefix of context t, not the whole episode
            assert group.prefix == traj.token_ids[: len(group.prefix)] and group.prefix[:3] == traj.token_ids[:3]
            assert len(group.prefix) == traj.turn_starts[0]


def test_records_datasets_and_sft_keep_the_contexts(tmp_path):
    record = tmp_path / "episodes.jsonl"
    with turngym.make_vec(chunk_env.ENV_ID, 2, record_to=str(record)) as vec:
        episodes = Engine(vec, OraclePolicy()).play([0, 1, 2])
    assert dataset_to_episodes(episodes_to_dataset(episodes)) == episodes
    from_record = dataset_to_episodes(recording_to_dataset(record))
    assert sorted(len(e.trajectories) for e in from_record) == [4, 4, 4]
    assert all(e.turn_contexts == [0, 1, 2, 3] for e in from_record)
    conversations = load_conversations(str(record))
    assert len(conversations) == 12  # one per context
    assert all(c[0]["role"] == "system" and [m["role"] for m in c].count("system") == 1 for c in conversations)
    saved = tmp_path / "dataset"
    episodes_to_dataset(episodes).save_to_disk(str(saved))
    assert len(load_conversations(str(saved))) == 12


@pytest.mark.parametrize("algo", ["grpo", "reinforce_rebn", "step_grpo"])
def test_every_trainer_trains_across_context_resets(algo, tmp_path):
    from turngym.baselines.config import load_config
    from turngym.baselines.train import trainer_for

    overrides = [
        f"env_id={chunk_env.ENV_ID}", "model=tiny", "tiny_tokenizer=bytes", "max_new_tokens=6", "steps=1",
        "tasks_per_step=2", "group_size=2", "eval_every=0", "checkpoint_every=0", "vec_mode=sync", f"out_dir={tmp_path}",
    ]  # fmt: skip
    if algo == "step_grpo":
        overrides += ["k=2", "group_size=1"]
    logged = []
    config = load_config(None, overrides, algo=algo)
    trainer_for(config)(config, on_log=lambda step, metrics: logged.append(metrics))
    metrics = logged[-1]
    assert metrics["rollout/contexts"] > 1
    if algo == "step_grpo":  # one sibling group per chunk of each episode
        assert metrics["rollout/step_groups"] == 2 * metrics["rollout/turns"] and metrics["rollout/turns"] > 1
    else:
        assert metrics["loss/tokens"] > 0
