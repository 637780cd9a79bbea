"""collect_episodes: real envs, a tiny model policy, token spans, per-turn rewards, episodes of different lengths."""

from __future__ import annotations

import pytest
import torch

import turngym
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.logprobs import pad_batch, sequence_logprobs
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.baselines.rollout import collect_episodes, rollout_metrics
from turngym.baselines.update import per_token_advantages
from turngym.envs.echo import ECHO_WORDS


@pytest.fixture(scope="module")
def echo_policy():
    tokenizer = tiny_tokenizer("words", [*ECHO_WORDS, "echo"])
    return HFPolicy(tiny_model(tokenizer, seed=3), tokenizer, max_new_tokens=3)


def test_episodes_keep_exact_tokens_spans_and_rewards(echo_policy):
    envs = [turngym.make("turngym/Echo-v0", max_turns=4) for _ in range(12)]
    episodes = collect_episodes(echo_policy, envs, list(range(12)), max_turns=4, generator=torch.Generator().manual_seed(0))
    assert len({e.turns for e in episodes}) > 1, "expected episodes that end at different turns"
    for e, env in zip(episodes, envs, strict=True):
        traj = e.trajectory
        assert e.task_id == env.unwrapped.state.task.id
        assert len(e.rewards) == len(e.turn_token_spans) == len(e.actions) == e.turns
        assert [s for s, _ in e.turn_token_spans] == traj.turn_starts
        covered = [i for start, end in e.turn_token_spans for i in range(start, end)]
        assert covered == [i for i, m in enumerate(traj.mask) if m == 1]
        for (start, end), action in zip(e.turn_token_spans, e.actions, strict=True):
            assert echo_policy.tokenizer.decode(traj.token_ids[start:end], skip_special_tokens=True) == action
        assert e.total_reward == pytest.approx(sum(e.rewards))
        assert e.outcome == (1.0 if e.stop_reason == "answered" else 0.0)
        assert e.stop_reason in ("answered", "max_turns", "invalid_actions")
    ids, attention = pad_batch([e.trajectory.token_ids for e in episodes], echo_policy.tokenizer.pad_token_id)
    with torch.no_grad():
        recomputed = sequence_logprobs(echo_policy.model, ids, attention)
    for row, e in enumerate(episodes):
        for i, (m, lp) in enumerate(zip(e.trajectory.mask, e.trajectory.logprobs, strict=True)):
            if m:
                assert float(recomputed[row, i]) == pytest.approx(lp, abs=1e-4)


def test_malformed_actions_are_observations_and_the_turn_cap_holds():
    tokenizer = tiny_tokenizer("bytes")
    policy = HFPolicy(tiny_model(tokenizer, seed=0), tokenizer, max_new_tokens=4)
    envs = [turngym.make("turngym/GuessNumber-v0", high=50, max_invalid_actions=10) for _ in range(3)]
    episodes = collect_episodes(policy, envs, [5, 6, 7], max_turns=2)
    for e in episodes:
        assert e.turns == 2 and e.stop_reason == "max_turns" and e.outcome == 0.0
        assert e.rewards == [0.0, 0.0]
    metrics = rollout_metrics(episodes)
    assert metrics["rollout/success"] == 0.0 and metrics["rollout/stop/max_turns"] == 1.0 and metrics["rollout/turns"] == 2.0


def test_per_token_advantages_follow_turns(echo_policy):
    envs = [turngym.make("turngym/Echo-v0", max_turns=3) for _ in range(4)]
    episodes = collect_episodes(echo_policy, envs, [10, 11, 12, 13], max_turns=3)
    values = [[float(t + 1) for t in range(e.turns)] for e in episodes]
    advantages = per_token_advantages([e.trajectory for e in episodes], values)
    for e, adv in zip(episodes, advantages, strict=True):
        for t, (start, end) in enumerate(e.turn_token_spans):
            assert adv[start:end].tolist() == [t + 1.0] * (end - start)
        assert adv[: e.turn_token_spans[0][0]].abs().sum() == 0
    with pytest.raises(ValueError, match="one value per policy turn"):
        per_token_advantages([episodes[0].trajectory], [[1.0] * (episodes[0].turns + 1)])


def test_seeds_and_envs_must_match(echo_policy):
    with pytest.raises(ValueError, match="one seed per env"):
        collect_episodes(echo_policy, [turngym.make("turngym/Echo-v0")], [1, 2], max_turns=1)
