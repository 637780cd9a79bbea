"""Multi-agent envs: PettingZoo's own API and seed tests on every ID, and games played to their end."""

from __future__ import annotations

import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import turngym
from turngym.envs.dialogue.clarify import ClarifyUser
from turngym.envs.dialogue.support.rule_user import SupportRuleUser
from turngym.envs.errors import UnknownEnvError

IDS = turngym.multiagent_ids()


def test_there_are_a_negotiation_a_question_game_and_support_with_both_sides():
    assert {"turngym/Negotiation-v0", "turngym/ClarifyDuo-v0", "turngym/SupportDuo-v0"} <= set(IDS)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("env_id", IDS)
def test_pettingzoo_api_and_seed_tests_pass(env_id):
    api_test(turngym.make_aec(env_id), num_cycles=200)
    parallel_api_test(turngym.make_parallel(env_id), num_cycles=200)
    seed_test(lambda: turngym.make_aec(env_id), num_cycles=200)
    parallel_seed_test(lambda: turngym.make_parallel(env_id), num_cycles=200)


def play(env, act):
    """Play an AEC env to its end with ``act(env, agent)``; each agent's summed reward and last info."""
    totals = dict.fromkeys(env.possible_agents, 0.0)
    infos = {}
    for agent in env.agent_iter(max_iter=200):
        obs, reward, terminated, truncated, info = env.last()
        totals[agent] += reward
        infos[agent] = info
        env.step(None if terminated or truncated else act(env, agent))
    return totals, infos


def test_negotiators_reach_a_deal_worth_their_private_values():
    for seed in range(20):
        env = turngym.make_aec("turngym/Negotiation-v0")
        env.reset(seed=seed)
        game = env.game
        totals, infos = play(env, lambda env, agent: env.game.oracle_action())
        assert infos["alice"]["stop_reason"] in ("answered", "max_turns")
        if infos["alice"]["stop_reason"] == "answered":
            # each agent's reward is its own share's value over 10; together they cannot exceed 2
            assert 0.0 <= totals["alice"] <= 1.0 and 0.0 <= totals["bob"] <= 1.0 and totals["alice"] + totals["bob"] > 0
        assert all(int(v @ game.pool) == 10 for v in game.values.values())


def test_a_malformed_proposal_is_an_error_message_to_its_author_only():
    env = turngym.make_aec("turngym/Negotiation-v0")
    env.reset(seed=0)
    env.step("<propose>99 0 0</propose>")
    assert env.infos["alice"]["error"].startswith("you cannot keep more") and env.rewards["alice"] == pytest.approx(-0.1)
    assert env.observe("alice")["messages"][-1]["content"].startswith("Invalid action")
    assert env.infos["bob"]["error"] is None and env.agent_selection == "bob"
    env.step("<accept></accept>")  # nothing valid was offered
    assert "nothing to accept" in env.infos["bob"]["error"]


def test_clarify_duo_the_user_seat_answers_and_both_share_the_outcome():
    for seed in range(10):
        env = turngym.make_aec("turngym/ClarifyDuo-v0")
        env.reset(seed=seed)
        user = ClarifyUser()
        user.start(env.game.proxy.profile, seed)

        def act(env, agent, user=user):
            if agent == "agent":
                return env.game.oracle_action()
            return user.respond(env.game.proxy.asked)  # a rule user in the seat, reading what the env would show it

        totals, infos = play(env, act)
        assert infos["agent"]["reward_parts"]["outcome"] == 1.0 and totals["user"] == 1.0
        user_view = env.game.observe("user")
        assert user_view[0]["role"] == "system" and "reveal only when asked" in user_view[0]["content"].lower()
        assert [m["role"] for m in user_view[1:]] == ["assistant", "user", "assistant"]


def test_support_duo_equals_support_with_the_same_rule_user_in_the_seat():
    for seed in range(6):
        single = turngym.make("turngym/Support-v0")
        single.reset(seed=seed)
        single_total = 0.0
        while True:
            _, reward, terminated, truncated, info = single.step(single.unwrapped.oracle_action())
            single_total += reward
            if terminated or truncated:
                break
        env = turngym.make_aec("turngym/SupportDuo-v0")
        env.reset(seed=seed)
        user = SupportRuleUser()
        user.start(env.game.proxy.profile, seed)

        def act(env, agent, user=user):
            return env.game.oracle_action() if agent == "agent" else user.respond(env.game.proxy.asked)

        totals, infos = play(env, act)
        assert totals["agent"] == pytest.approx(single_total) and totals["user"] == 1.0
        assert env.game.env.state.messages[2:] == single.unwrapped.state.messages[2:]


def test_parallel_rounds_play_each_agent_in_turn():
    env = turngym.make_parallel("turngym/Negotiation-v0")
    obs, infos = env.reset(seed=3)
    obs, rewards, terminations, truncations, infos = env.step({"alice": "<propose>0 0 0</propose>", "bob": "<accept></accept>"})
    assert terminations == {"alice": True, "bob": True} and env.agents == []
    assert rewards["alice"] == 0.0 and rewards["bob"] == 1.0  # alice kept nothing; bob took the whole pool


def test_unknown_ids_are_refused_with_a_suggestion():
    with pytest.raises(UnknownEnvError, match="did you mean 'turngym/Negotiation-v0'"):
        turngym.make_aec("turngym/Negotiaton-v0")


def test_a_seat_is_a_single_agent_env_against_a_fixed_opponent():
    env = turngym.make("turngym/Seat-v0", seat="bob", opponent="random")
    obs, info = env.reset(seed=1)
    assert info["task_id"].endswith(":bob") and obs[0]["role"] == "system"
    game = env.unwrapped.state.data["game"]
    assert game.current == "bob" or game.over or game.truncated
    with pytest.raises(ValueError, match="seat must be one of"):
        turngym.make("turngym/Seat-v0", seat="carol")
    with pytest.raises(ValueError, match="one action format"):
        turngym.make("turngym/Seat-v0", game="turngym/ClarifyDuo-v0", seat="alternate")


@pytest.mark.parametrize("algo", ["grpo", "step_grpo"])
def test_self_play_trains_both_seats_each_with_its_own_groups(algo, tmp_path):
    from turngym.baselines.config import ConfigError, load_config
    from turngym.baselines.train import trainer_for

    overrides = [
        "env_id=turngym/Seat-v0", "env_kwargs={seat: alternate, opponent: self}", "model=tiny", "tiny_tokenizer=bytes",
        "max_new_tokens=8", "max_turns=3", "steps=1", "tasks_per_step=4", "group_size=2", "eval_every=0",
        "checkpoint_every=0", "vec_mode=sync", f"out_dir={tmp_path}",
    ]  # fmt: skip
    if algo == "step_grpo":
        overrides += ["k=2", "group_size=1"]
    config = load_config(None, overrides, algo=algo)
    logged = []
    trainer_for(config)(config, on_log=lambda step, metrics: logged.append(metrics))
    assert logged and logged[-1]["rollout/episodes"] >= 4 and logged[-1]["rollout/errors"] == 0
    with pytest.raises(ConfigError, match="self-play"):
        bad = load_config(None, [*overrides, "vec_mode=process", f"out_dir={tmp_path / 'process'}"], algo=algo)
        trainer_for(bad)(bad)
