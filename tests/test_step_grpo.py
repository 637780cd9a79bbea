"""Step-level GRPO: independent forks, k candidates on one shared prefix, sibling advantages, candidate-only loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import turngym
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.logprobs import pad_batch
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.baselines.advantages import group_advantages
from turngym.baselines.config import ConfigError, load_config
from turngym.baselines.losses import policy_gradient_loss
from turngym.baselines.metrics import read_metrics
from turngym.baselines.run import make_hooks
from turngym.baselines.step_grpo import (
    StepGRPOConfig,
    candidate_trajectories,
    choose_sibling,
    sample_step_groups,
    step_reward,
    train_step_grpo,
)
from turngym.engine import Engine


class ForcedChoices(HFPolicy):
    """An HF policy whose k candidates are given texts (teacher-forced, real log-probs), in order."""

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.choices = choices
        self.calls: list[tuple[int, int]] = []

    def sample(self, trajs, k=1, **settings):
        self.calls.append((len(trajs), k))
        encode = self.tokenizer.encode
        return [
            [self.teacher_forced(t, encode(self.choices[j % len(self.choices)], add_special_tokens=False)) for j in range(k)]
            for t in trajs
        ]


class CountingHook:
    """A batched hook that counts its calls: 0.5 for a guess below 50, else 0.0."""

    name = "low"

    def __init__(self):
        self.batches: list[int] = []

    def score_batch(self, contexts):
        self.batches.append(len(contexts))
        return [0.5 if (ctx.parsed.answer or "").isdigit() and int(ctx.parsed.answer) < 50 else 0.0 for ctx in contexts]


@pytest.fixture(scope="module")
def words():
    tokenizer = tiny_tokenizer("words", ["echo", "Higher", "Lower"])
    return tokenizer, tiny_model(tokenizer, seed=1)


def branch(policy, seeds, *, k, hooks=(), high=100, max_turns=3, **kwargs):
    """``sample_step_groups`` on a sync vector env of GuessNumber with k envs per episode."""
    with turngym.make_vec("turngym/GuessNumber-v0", len(seeds) * k, high=high, max_turns=max_turns) as vec:
        return sample_step_groups(Engine(vec, policy, hooks=hooks), seeds, k=k, **kwargs)


def test_forks_are_independent_and_each_sibling_is_scored_as_a_fresh_replay(words):
    tokenizer, model = words
    choices = ["<guess>10</guess>", "<guess>50</guess>", "<guess>90</guess>", "<guess>echo</guess>"]
    policy = ForcedChoices(model, tokenizer, stop=("</guess>",), choices=choices)
    seeds = [3, 4]
    hook = CountingHook()
    rollout = branch(policy, seeds, k=4, hooks=[hook], continue_from="random", rng=np.random.default_rng(0))
    by_episode = {0: [], 1: []}
    for group in rollout.groups:
        by_episode[[e.task_id for e in rollout.episodes].index(group.task_id)].append(group)
    for e, groups in by_episode.items():
        chosen = []
        for group in groups:
            for text, sample, parts, ended in zip(choices, group.samples, group.parts, group.ended, strict=True):
                replay = turngym.make("turngym/GuessNumber-v0", high=100, max_turns=3)
                replay.reset(seed=seeds[e])
                for action in chosen:
                    replay.step(action)
                _obs, _reward, terminated, truncated, info = replay.step(text)
                assert sample.text == text
                assert ended == (terminated or truncated)
                assert {k: v for k, v in parts.items() if k != "low"} == info["reward_parts"]
            chosen.append(group.samples[group.chosen].text)
        assert rollout.episodes[e].actions == chosen
    # the trainer's hook: one batch per turn over every fork of every running episode
    assert hook.batches == [4 * n for n, _k in policy.calls]


def test_k_candidates_share_the_prefix_and_are_sampled_in_one_call_per_turn(words):
    tokenizer, model = words
    policy = HFPolicy(model, tokenizer, max_new_tokens=6)
    calls = []
    sample = policy.sample

    def counting_sample(trajs, k=1, **kwargs):
        calls.append((len(trajs), k, [list(t.token_ids) for t in trajs]))
        return sample(trajs, k, **kwargs)

    policy.sample = counting_sample
    rollout = branch(policy, [0, 1, 2], k=5, generator=torch.Generator().manual_seed(0))
    assert calls[0][:2] == (3, 5) and all(k == 5 for _n, k, _p in calls)
    assert len(calls) == max(g.turn for g in rollout.groups)
    prefixes = [p for _n, _k, turn_prefixes in calls for p in turn_prefixes]
    assert [g.prefix for g in rollout.groups] == prefixes  # each group's siblings branch from the prefix the sampler saw
    trajectories, _ = candidate_trajectories(rollout.groups, skip_zero=False)
    assert len(trajectories) == 5 * len(rollout.groups)
    for g, group in enumerate(rollout.groups):
        for j, sample_ in enumerate(group.samples):
            traj = trajectories[5 * g + j]
            assert traj.token_ids[: len(group.prefix)] == group.prefix
            assert traj.token_ids[len(group.prefix) :] == sample_.token_ids
    # the continued path holds the chosen sibling's tokens at each turn
    for episode in rollout.episodes:
        ids = episode.trajectory.token_ids
        mine = [g for g in rollout.groups if g.task_id == episode.task_id and ids[: len(g.prefix)] == g.prefix]
        for group, (start, end) in zip(mine, episode.turn_token_spans, strict=True):
            assert ids[start:end] == group.samples[group.chosen].token_ids


def test_advantages_are_group_relative_among_siblings_only(words):
    tokenizer, model = words
    choices = ["<guess>10</guess>", "<guess>60</guess>", "<guess>20</guess>"]
    policy = ForcedChoices(model, tokenizer, stop=("</guess>",), choices=choices)
    hook = CountingHook()
    rollout = branch(policy, [5, 6], k=3, max_turns=2, hooks=[hook], normalize_std=False)
    for group in rollout.groups:
        assert group.rewards == [pytest.approx(sum(p.values())) for p in group.parts]  # weights 1, gamma 1
        expected = group_advantages(group.rewards, [0] * 3, normalize_std=False).tolist()
        assert group.advantages == pytest.approx(expected)
        assert sum(group.advantages) == pytest.approx(0.0, abs=1e-6)
        assert group.advantages[1] < 0 < group.advantages[0]  # 60 earns no "low" reward, 10 and 20 do
    equal = ForcedChoices(model, tokenizer, stop=("</guess>",), choices=["<guess>30</guess>"])
    flat = branch(equal, [5], k=3, max_turns=1, hooks=[CountingHook()])
    assert flat.groups[0].advantages == [0.0, 0.0, 0.0]
    assert candidate_trajectories(flat.groups)[0] == []  # no gradient from a group whose siblings tie


def test_the_loss_touches_candidate_tokens_only(words):
    tokenizer, model = words
    policy = ForcedChoices(model, tokenizer, stop=("</guess>",), choices=["<guess>10</guess>", "<guess>70</guess>"])
    rollout = branch(policy, [2], k=2, max_turns=2, hooks=[CountingHook()])
    trajectories, advantages = candidate_trajectories(rollout.groups)
    assert len(trajectories) == 2 * len(rollout.groups) and advantages.abs().min() > 0
    for traj, (group, sample) in zip(trajectories, [(g, s) for g in rollout.groups for s in g.samples], strict=True):
        assert traj.mask == [0] * len(group.prefix) + [1] * len(sample.token_ids)
        assert traj.logprobs[len(group.prefix) :] == pytest.approx(sample.logprobs)
    ids, attention = pad_batch([t.token_ids for t in trajectories], tokenizer.pad_token_id)
    mask = torch.zeros(ids.shape)
    old = torch.zeros(ids.shape)
    for row, t in enumerate(trajectories):
        mask[row, : len(t)] = torch.tensor(t.mask, dtype=torch.float32)
        old[row, : len(t)] = torch.tensor(t.logprobs)
    new = (old + 0.01 * torch.randn(ids.shape)).requires_grad_(True)
    loss, stats = policy_gradient_loss(new, old, advantages, mask)
    loss.backward()
    touched = new.grad != 0
    assert torch.equal(touched, mask.bool())
    assert stats["loss/tokens"] == sum(len(s.token_ids) for g in rollout.groups for s in g.samples)


def test_continue_from_choices():
    rng = np.random.default_rng(0)
    assert choose_sibling([0.1, 0.9, 0.9, 0.2], "best", rng) == 1
    draws = [choose_sibling([0.0, 1.0], "sampled", rng, temperature=0.25) for _ in range(2000)]
    assert 0.96 < np.mean(draws) < 0.995  # softmax([0, 4]) gives 0.982 to the second
    uniform = [choose_sibling([0.0, 1.0, 5.0], "random", rng) for _ in range(3000)]
    assert all(abs(uniform.count(j) / 3000 - 1 / 3) < 0.04 for j in range(3))
    with pytest.raises(ConfigError, match="expected one of best, random, sampled"):
        choose_sibling([1.0], "greedy", rng)


def test_gamma_discounts_only_the_outcome():
    parts = {"outcome": 1.0, "shaping/tag": 1.0}
    env_reward = 1.0 + 0.1  # the env's weighted sum with weights {"shaping": 0.1}
    assert step_reward(env_reward, parts, turn=3, gamma=0.5) == pytest.approx(0.25 + 0.1)
    assert step_reward(2.0, parts, turn=3, gamma=0.5, outcome_weight=2.0) == pytest.approx(0.5)
    assert step_reward(1.0, {"format": 1.0}, turn=3, gamma=0.5) == 1.0


def test_config_loads_by_name_and_checks_its_fields():
    config = load_config(None, ["k=3", "continue_from=best", "process_rewards=[format, turn_cost]"], algo="step_grpo")
    assert isinstance(config, StepGRPOConfig) and config.k == 3 and config.continue_from == "best"
    assert config.to_dict()["algo"] == "step_grpo"
    for overrides, message in [
        (["k=1"], "k: expected an int >= 2"),
        (["continue_from=worst"], "continue_from: expected one of"),
        (["process_rewards=[magic]"], "process_rewards: expected names from"),
        (["process_rewards=[judge]"], "judge_model: expected a model folder"),
        (["gamma=1.5"], "gamma: expected a float in"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config(None, overrides, algo="step_grpo")


def test_train_step_grpo_logs_checkpoints_and_resumes(tmp_path):
    base = Path(__file__).resolve().parents[1] / "baselines" / "configs" / "echo_grpo.yaml"
    overrides = [f"out_dir={tmp_path}", "tensorboard=false", "group_size=1", "k=4", "tasks_per_step=4", "eval_every=0"]
    hook = CountingHook()
    first = train_step_grpo(load_config(base, [*overrides, "steps=2"], algo="step_grpo"), hooks=[hook])
    assert first["rollout/step_groups"] >= 4 and first["rollout/sampled_tokens"] >= 16
    assert hook.batches and all(n % 4 == 0 for n in hook.batches)  # one batch per turn: k forks of each running episode
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    resumed = []
    train_step_grpo(load_config(base, [*overrides, "steps=3"], algo="step_grpo"), on_log=lambda step, m: resumed.append(step))
    assert resumed == [3] and [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3]


def test_hooks_by_name_include_an_endpoint_judge():
    from turngym.envs.hooks import FormatReward, LLMJudge, TurnCost

    config = StepGRPOConfig(
        process_rewards=["format", "judge", "turn_cost"],
        judge_url="http://127.0.0.1:9",
        judge_model="m",
        judge_rubric="Be strict.",
    )
    fmt, judge, cost = make_hooks(config)
    assert isinstance(fmt, FormatReward) and isinstance(cost, TurnCost)
    assert (
        isinstance(judge, LLMJudge)
        and judge.rubric == "Be strict."
        and judge.backend.url == "http://127.0.0.1:9/v1/chat/completions"
    )
