"""The rollout engine: real vector envs, a tiny model policy, token spans, per-turn rewards, batched retrieval and
hooks, act_batch and oracle policies, k-way branching through vector forks, crashed workers."""

from __future__ import annotations

import crash_env  # registers tests/Crash-v0 (also inside spawned workers)
import numpy as np
import pytest
import torch

import turngym
from turngym.agents import OraclePolicy, ScriptedPolicy
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.logprobs import pad_batch, sequence_logprobs
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.baselines.update import per_token_advantages
from turngym.engine import Engine, rollout_metrics
from turngym.envs.echo import ECHO_WORDS
from turngym.envs.errors import HookError


def collect(policy, env_id, seeds, *, max_turns, generator=None, **kwargs):
    """One episode per seed through the engine on a sync vector env with one env per seed."""
    with turngym.make_vec(env_id, len(seeds), max_turns=max_turns, **kwargs) as vec:
        return Engine(vec, policy, max_turns=max_turns).play(seeds, generator=generator)


@pytest.fixture(scope="module")
def echo_policy():
    tokenizer = tiny_tokenizer("words", [*ECHO_WORDS, "echo"])
    return HFPolicy(tiny_model(tokenizer, seed=3), tokenizer, max_new_tokens=3)


def test_episodes_keep_exact_tokens_spans_and_rewards(echo_policy):
    episodes = collect(echo_policy, "turngym/Echo-v0", list(range(12)), max_turns=4, generator=torch.Generator().manual_seed(0))
    assert len({e.turns for e in episodes}) > 1, "expected episodes that end at different turns"
    for seed, e in enumerate(episodes):
        traj = e.trajectory
        env = turngym.make("turngym/Echo-v0")
        assert e.seed == seed and e.task_id == env.reset(seed=seed)[1]["task_id"]
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
    episodes = collect(policy, "turngym/GuessNumber-v0", [5, 6, 7], max_turns=2, high=50, max_invalid_actions=10)
    for e in episodes:
        assert e.turns == 2 and e.stop_reason == "max_turns" and e.outcome == 0.0
        assert e.rewards == [0.0, 0.0]
    metrics = rollout_metrics(episodes)
    assert metrics["rollout/success"] == 0.0 and metrics["rollout/stop/max_turns"] == 1.0 and metrics["rollout/turns"] == 2.0


def test_per_token_advantages_follow_turns(echo_policy):
    episodes = collect(echo_policy, "turngym/Echo-v0", [10, 11, 12, 13], max_turns=3)
    values = [[float(t + 1) for t in range(e.turns)] for e in episodes]
    advantages = per_token_advantages([e.trajectory for e in episodes], values)
    for e, adv in zip(episodes, advantages, strict=True):
        for t, (start, end) in enumerate(e.turn_token_spans):
            assert adv[start:end].tolist() == [t + 1.0] * (end - start)
        assert adv[: e.turn_token_spans[0][0]].abs().sum() == 0
    with pytest.raises(ValueError, match="one value per policy turn"):
        per_token_advantages([episodes[0].trajectory], [[1.0] * (episodes[0].turns + 1)])


def test_more_seeds_than_envs_refill_the_envs_and_keep_seed_order():
    guesses = ScriptedPolicy(lambda conversation: "<guess>3</guess>")
    with turngym.make_vec("turngym/GuessNumber-v0", 2, high=4, max_turns=1) as vec:
        seen = []
        episodes = Engine(vec, guesses).play(range(20, 27), on_episode=lambda e: seen.append(e.seed))
    assert [e.seed for e in episodes] == list(range(20, 27)) and sorted(seen) == list(range(20, 27))
    for e in episodes:  # a message policy: no tokens, the conversation kept
        assert (
            e.turns == 1
            and e.trajectory.token_ids == []
            and e.conversation[2] == {"role": "assistant", "content": "<guess>3</guess>"}
        )
        assert e.success == (e.conversation[-1]["content"] != "Lower." and e.outcome > 0)


def test_the_oracle_plays_through_the_engine_and_actions_are_recorded():
    with turngym.make_vec("turngym/ToolCalc-v0", 3) as vec:
        episodes = Engine(vec, OraclePolicy()).play(range(6))
    assert all(e.success and e.stop_reason == "answered" for e in episodes)
    assert all(e.actions[-1].startswith("<answer>") or "answer" in e.actions[-1] for e in episodes)


def test_the_engine_stops_at_the_envs_stop_strings_unless_told_otherwise(echo_policy):
    with turngym.make_vec("turngym/GuessNumber-v0", 1) as vec:
        assert Engine(vec, echo_policy).stop == turngym.make("turngym/GuessNumber-v0").unwrapped.stop_strings
        assert Engine(vec, echo_policy, stop=["</x>"]).stop == ("</x>",)


class CountingHook:
    """A batched hook that counts its batches."""

    name = "counted"

    def __init__(self):
        self.batches: list[int] = []

    def score_batch(self, contexts):
        self.batches.append(len(contexts))
        return [0.25] * len(contexts)


def test_hooks_score_each_vector_step_in_one_batch_and_weigh_like_the_env():
    hook = CountingHook()
    guesses = ScriptedPolicy(lambda conversation: "<guess>1</guess>")
    with turngym.make_vec("turngym/GuessNumber-v0", 4, high=100, max_turns=2, reward_weights={"counted": 2.0}) as vec:
        episodes = Engine(vec, guesses, hooks=[hook]).play([1, 2, 3, 4])
    assert hook.batches == [4, 4]  # one batch per vector step, not one call per env
    for e in episodes:
        assert all(parts["counted"] == 0.25 for parts in e.reward_parts)
        assert e.rewards[0] == pytest.approx(0.5)  # the env's weight for the part
    with turngym.make_vec("turngym/GuessNumber-v0", 1, process_rewards=[lambda ctx: 1.0]) as vec:
        named = CountingHook()
        named.name = "<lambda>"
        with pytest.raises(HookError, match="set twice"):
            Engine(vec, guesses, hooks=[named]).play([0])


def test_one_vector_step_sends_the_running_episodes_queries_in_one_batched_retrieval():
    calls = []

    class CountingRetriever:
        def __init__(self, inner):
            self.inner = inner

        def search_batch(self, queries, k):
            calls.append(list(queries))
            return self.inner.search_batch(queries, k)

        def get(self, doc_id):
            return self.inner.get(doc_id)

    env = turngym.make("turngym/MultiHopQA-v0", hops=1)
    retriever = CountingRetriever(env.unwrapped.retriever)
    with turngym.make_vec("turngym/MultiHopQA-v0", 8, hops=1, retriever=retriever) as vec:
        episodes = Engine(vec, OraclePolicy()).play(range(8))
    assert all(e.success for e in episodes)
    assert calls and len(calls[0]) == 8  # the first turn: every env's query in one call
    assert all(e.step_metrics[0]["retrieval_batch"] == 8 for e in episodes)
    assert "env/retrieval_batch" in rollout_metrics(episodes)


def test_a_worker_that_dies_mid_episode_ends_only_that_episode_with_an_error():
    actions = iter(["hello", "CRASH", "hello", "hello"] + ["<answer>0</answer>"] * 8)
    policy = ScriptedPolicy(lambda conversation: next(actions))
    with turngym.make_vec(crash_env.ENV_ID, 2, mode="process") as vec:
        episodes = Engine(vec, policy).play([0, 1, 2])
        assert vec.restarts == [0, 1]  # the second env of the first round got CRASH
    broken = [e for e in episodes if e.stop_reason == "error"]
    assert len(broken) == 1 and not broken[0].trainable and "worker 1" in broken[0].error
    assert all(e.trainable and e.stop_reason == "answered" for e in episodes if e is not broken[0])
    assert rollout_metrics(episodes)["rollout/errors"] == 1.0


def assert_siblings_replay(rollout, seeds, chosen_index, **env_kwargs):
    """Each sibling's parts and end match a fresh env that replays the chosen path, then the sibling."""
    for e, seed in enumerate(seeds):
        groups = [g for g in rollout.groups if g.task_id == rollout.episodes[e].task_id]
        chosen = []
        for group in groups:
            for sample, parts, ended in zip(group.samples, group.parts, group.ended, strict=True):
                replay = turngym.make("turngym/GuessNumber-v0", **env_kwargs)
                replay.reset(seed=seed)
                for action in chosen:
                    replay.step(action)
                _obs, _reward, terminated, truncated, info = replay.step(sample.text)
                assert parts == info["reward_parts"] and ended == (terminated or truncated)
            chosen.append(group.samples[chosen_index].text)
        assert rollout.episodes[e].actions == chosen


def test_branching_forks_k_siblings_that_step_in_one_vector_step():
    guesses = iter(range(1, 10_000))
    policy = ScriptedPolicy(lambda conversation: f"<guess>{next(guesses)}</guess>")
    with turngym.make_vec("turngym/GuessNumber-v0", 6, high=100, max_turns=3) as vec:
        engine = Engine(vec, policy)
        steps = []
        step = vec.step
        vec.step = lambda actions: steps.append(sorted(actions)) or step(actions)
        rollout = engine.branch([5, 6], k=3, choose=lambda group, rng: 2, rng=np.random.default_rng(0))
    assert steps[0] == [0, 1, 2, 3, 4, 5]  # every sibling of every episode in one vector step
    assert [g.turn for g in rollout.groups] == [1, 1, 2, 2, 3, 3]
    assert_siblings_replay(rollout, [5, 6], 2, high=100, max_turns=3)


def test_branching_needs_k_envs_per_episode():
    with turngym.make_vec("turngym/GuessNumber-v0", 3) as vec, pytest.raises(ValueError, match="needs 4 envs"):
        Engine(vec, OraclePolicy()).branch([1, 2], k=2, choose=lambda group, rng: 0)


def test_process_vector_envs_fork_through_episode_snapshots():
    guesses = iter(range(1, 10_000))
    policy = ScriptedPolicy(lambda conversation: f"<guess>{next(guesses)}</guess>")
    with turngym.make_vec("turngym/GuessNumber-v0", 4, mode="process", high=1000, max_turns=3) as vec:
        rollout = Engine(vec, policy).branch([7, 8], k=2, choose=lambda group, rng: 1)
    assert [g.turn for g in rollout.groups] == [1, 1, 2, 2, 3, 3]
    assert all(g.ended == [True, True] for g in rollout.groups[4:])  # the forks carried the turn count
    assert_siblings_replay(rollout, [7, 8], 1, high=1000, max_turns=3)
