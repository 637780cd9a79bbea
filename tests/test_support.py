"""Support-v0 and SupportUser-v0: the oracle solves every task, each reward part catches its failure,
the tools enforce identity, the DB hash ignores insertion order, and both envs conform."""

from __future__ import annotations

import copy
import doctest
import importlib

import gymnasium as gym
import numpy as np
import pytest

import turngym
from turngym.envs.conformance import CHECKS
from turngym.envs.dialogue.support import KINDS, SupportEnv, SupportRuleUser, SupportUserEnv, db_hash, make_db
from turngym.envs.dialogue.support.tasks import task_split
from turngym.evaluation.stats import pass_hat_k

IDS = {
    "turngym/Support-v0": "turngym.envs.dialogue.support:SupportEnv",
    "turngym/SupportUser-v0": "turngym.envs.dialogue.support:SupportUserEnv",
}
for _id, _entry in IDS.items():
    if _id not in gym.registry:
        turngym.register(_id, entry_point=_entry)


def play(env, seed, edit=lambda action: action, max_steps=40):
    """An oracle episode, each action passed through ``edit`` first; returns the final reward and info."""
    env.reset(seed=seed)
    for _ in range(max_steps):
        _, reward, terminated, truncated, info = env.step(edit(env.oracle_action()))
        if terminated or truncated:
            return reward, info
    raise AssertionError(f"seed {seed}: the episode did not end in {max_steps} steps")


@pytest.mark.parametrize("env_class", [SupportEnv, SupportUserEnv])
@pytest.mark.parametrize("split", ["train", "test"])
def test_the_oracle_gets_reward_1_on_every_task(env_class, split):
    env, kinds, ids = env_class(split=split), set(), set()
    for seed in range(120):
        reward, info = play(env, seed)
        assert (reward, info["reward_parts"]["outcome"], info["stop_reason"]) == (1.0, 1.0, "answered"), (seed, info)
        assert {info["reward_parts"][p] for p in ("db", "communicate", "actions")} == {1.0}
        kinds.add(env.state.task.facts["kind"])
        ids.add(env.state.task.id)
        assert task_split(env.state.task.id) == split
    assert kinds == set(KINDS) and len(ids) == 120


@pytest.mark.parametrize("parser", ["openai", "tags"])
def test_the_oracle_solves_tasks_with_other_parsers(parser):
    env = SupportEnv(parser=parser)
    for seed in range(10):
        assert play(env, seed)[0] == 1.0


def test_the_same_seed_gives_the_same_transcript_and_a_fork_continues_alike():
    a, b = SupportEnv(), SupportEnv()
    play(a, 7), play(b, 7)
    assert a.state.messages == b.state.messages
    a.reset(seed=3)
    for _ in range(3):
        a.step(a.oracle_action())
    fork = a.fork()
    while fork.state.stop_reason is None:
        fork.step(fork.oracle_action())
    assert a.state.stop_reason is None and fork.state.stop_reason == "answered"


def seed_of(kind, condition=lambda env: True):
    env = SupportEnv(kinds=(kind,))
    for seed in range(200):
        env.reset(seed=seed)
        if condition(env):
            return seed
    raise AssertionError(f"no {kind} task meets the condition in 200 seeds")


def test_cancelling_the_wrong_order_gives_db_0():
    def two_orders(env):
        task = env.state.task
        orders = [o for o, order in task.facts["db"]["orders"].items() if order["customer_id"] == customer_of(task)]
        return len(orders) >= 2

    seed = seed_of("cancel", two_orders)
    env = SupportEnv(kinds=("cancel",))
    env.reset(seed=seed)
    task = env.state.task
    gold = task.facts["gold_actions"][0]["arguments"]["order_id"]
    other = next(o for o, order in task.facts["db"]["orders"].items() if order["customer_id"] == customer_of(task) and o != gold)

    def wrong(action):
        return action.replace(gold, other) if "cancel_order" in action else action

    reward, info = play(env, seed, wrong)
    assert reward == 0.0 and info["reward_parts"]["db"] == 0.0
    assert env.state.data["db"]["orders"][other]["status"] == "cancelled"


def customer_of(task):
    email = task.facts["profile"].facts["email"]
    return next(c for c, customer in task.facts["db"]["customers"].items() if customer["email"] == email)


def test_forgetting_to_tell_the_refund_gives_communicate_0():
    env = SupportEnv(kinds=("refund",))
    env.reset(seed=0)
    amount = env.state.task.facts["communicate"][0]
    reward, info = play(env, 0, lambda action: action if "<tool_call>" in action else action.replace(amount, "the price"))
    assert reward == 0.0 and info["reward_parts"]["communicate"] == 0.0 and info["reward_parts"]["db"] == 1.0


def test_writing_before_verifying_identity_is_refused_and_the_db_stays_unchanged():
    env = SupportEnv(kinds=("cancel",))
    env.reset(seed=0)
    before = db_hash(env.state.data["db"])
    order_id = env.state.task.facts["gold_actions"][0]["arguments"]["order_id"]
    _, _, _, _, info = env.step(env.parser.render([("cancel_order", {"order_id": order_id})]))
    assert not info["tool_calls"][0]["ok"] and "identity not verified" in info["tool_calls"][0]["output"]
    assert db_hash(env.state.data["db"]) == before


def test_cancelling_an_order_past_pending_breaks_policy_and_gives_db_0():
    env = SupportEnv(kinds=("cancel_refused",))
    env.reset(seed=0)
    order_id = env.state.task.facts["profile"].facts["order_id"]

    def disobey(action):  # cancel instead of refusing
        if "cannot be cancelled" in action:
            return env.parser.render([("cancel_order", {"order_id": order_id})])
        return action

    for _ in range(8):
        env.step(disobey(env.oracle_action()))
    assert env.state.data["db"]["orders"][order_id]["status"] == "cancelled"
    assert env.grade()["db"] == 0.0


def test_the_transfer_task_needs_the_transfer_call():
    env = SupportEnv(kinds=("refund_transfer",))

    def skip_transfer(action):
        if "transfer_to_human" in action:
            return "<message>It was delivered too long ago, so I am transferring you to a human agent.</message>"
        return action

    reward, info = play(env, 0, skip_transfer)
    assert reward == 0.0 and info["reward_parts"]["actions"] == 0.0 and info["reward_parts"]["db"] == 1.0


def test_the_db_hash_ignores_insertion_order_and_sees_every_value():
    db = make_db(np.random.default_rng(5))
    shuffled = {
        "orders": {
            o: {**{k: order[k] for k in reversed(order)}, "items": dict(reversed(order["items"].items()))}
            for o, order in reversed(db["orders"].items())
        },
        "customers": dict(reversed(db["customers"].items())),
    }
    assert db_hash(shuffled) == db_hash(db)
    changed = copy.deepcopy(db)
    first = sorted(changed["orders"])[0]
    changed["orders"][first]["address"] += " "
    assert db_hash(changed) != db_hash(db)


def test_a_user_simulator_instance_is_accepted_and_a_bad_one_is_explained():
    assert play(SupportEnv(user=SupportRuleUser()), 1)[0] == 1.0
    with pytest.raises(ValueError, match="UserSimulator"):
        SupportEnv(user="model")
    with pytest.raises(ValueError, match="kinds"):
        SupportEnv(kinds=("refund", "teleport"))


def test_a_user_who_invents_a_fact_loses_half_and_one_who_quits_gets_0():
    env = SupportUserEnv()
    env.reset(seed=0)
    email = env.state.task.facts["profile"].facts["email"]
    reward, info = play(env, 0, lambda action: action.replace(email, "someone@example.com", 1) if env.state.turn == 1 else action)
    assert (reward, info["reward_parts"]["invented"], info["reward_parts"]["db"]) == (0.5, 1.0, 1.0)
    env.reset(seed=0)
    *_, info = env.step("<message>Never mind. ###STOP###</message>")
    assert info["stop_reason"] == "answered" and info["reward_parts"]["outcome"] == 0.0


def test_pass_hat_k_composes_with_oracle_and_random_episodes():
    env = turngym.make("turngym/Support-v0")
    oracle = [play(env.unwrapped, seed)[0] == 1.0 for seed in range(4)]
    env.action_space.seed(0)
    random = []
    for seed in range(4):
        env.reset(seed=seed)
        while True:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                random.append(reward == 1.0)
                break
    assert pass_hat_k(len(oracle), sum(oracle), 2) == 1.0
    assert pass_hat_k(len(random), sum(random), 2) == 0.0


@pytest.mark.parametrize("check_name", list(CHECKS))
@pytest.mark.parametrize("env_id", list(IDS))
def test_conformance(env_id, check_name):
    CHECKS[check_name](env_id)


@pytest.mark.parametrize("module", ["turngym.envs.dialogue.support.env", "turngym.envs.dialogue.support.user_env"])
def test_env_cards_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
