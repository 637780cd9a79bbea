"""turngym/Clarify-v0: information gain by the numbers, oracle vs no-ask success, splits, users, conformance."""

from __future__ import annotations

import copy
import doctest
import math

import numpy as np
import pytest

import turngym
from turngym.envs.conformance import CHECKS
from turngym.envs.dialogue import clarify, clarify_tasks
from turngym.envs.dialogue.clarify import ClarifyUser
from turngym.envs.dialogue.clarify_tasks import FAMILIES, NAMES, TEMPLATES, draw_problem, unit_split
from turngym.envs.dialogue.user import UserProfile, UserSimulator

ENV_ID = "turngym/Clarify-v0"
if ENV_ID not in turngym.registered_ids():
    turngym.register(ENV_ID, entry_point="turngym.envs.dialogue.clarify:ClarifyEnv")

VAGUE = "<ask>Can you tell me more about the problem?</ask>"
OFF_TOPIC = "<ask>What is the weather like today?</ask>"


def make(**kwargs):
    return turngym.make(ENV_ID, **kwargs).unwrapped


def ask_label(label: str) -> str:
    return f"<ask>What is the {label}?</ask>"


def gain_of(env, action: str) -> tuple[float, str]:
    """The info_gain part and the user's reply when a fork of ``env`` takes ``action``."""
    obs, _, _, _, info = env.fork().step(action)
    return info["reward_parts"]["info_gain"], obs[0]["content"]


@pytest.mark.parametrize("split", ["train", "test"])
def test_info_gain_is_highest_for_the_question_that_names_the_missing_variable(split):
    env = make(split=split)
    for seed in range(40):
        env.reset(seed=seed)
        facts = env.state.task.facts
        full = math.log2(len(facts["candidates"]))
        gain, reply = gain_of(env, ask_label(facts["aliases"][facts["missing"]][0]))
        assert gain == pytest.approx(full) and reply == facts["statements"][facts["missing"]]
        others = [v for v in facts["statements"] if v != facts["missing"]]
        for var in others:  # a stated variable: the user repeats its sentence, which tells nothing new
            gain, reply = gain_of(env, ask_label(facts["aliases"][var][0]))
            assert (gain, reply) == (0.0, facts["statements"][var])
            assert reply in env.state.task.prompt
        for action in (VAGUE, OFF_TOPIC):
            gain, reply = gain_of(env, action)
            assert (gain, reply) == (0.0, clarify.UNKNOWN)


def test_info_gain_counts_once_is_normalised_on_request_and_reads_the_numbers():
    env = make(families=["arithmetic"])
    env.reset(seed=3)
    facts = env.state.task.facts
    assert len(facts["candidates"]) == 9
    question = ask_label(facts["aliases"][facts["missing"]][0])
    *_, info = env.step(question)
    assert info["reward_parts"] == pytest.approx({"info_gain": math.log2(9), "turn_cost": -0.05})
    assert info["reward_parts"]["info_gain"] == pytest.approx(3.169925, abs=1e-6)
    _, reward, *_, info = env.step(question)  # asked again: nothing left to learn
    assert info["reward_parts"]["info_gain"] == 0.0 and reward == pytest.approx(-0.05)
    env = make(families=["planning"], normalise_info_gain=True, turn_cost=0.0)
    env.reset(seed=3)
    facts = env.state.task.facts
    _, reward, *_, info = env.step(ask_label(facts["aliases"][facts["missing"]][0]))
    assert info["reward_parts"] == {"info_gain": 1.0, "turn_cost": -0.0} and reward == pytest.approx(0.1)


def test_a_reply_tells_a_value_only_in_a_sentence_about_the_missing_variable():
    facts = {
        "missing": "boxes",
        "candidates": [str(i) for i in range(1, 10)],
        "aliases": {"boxes": ("number of boxes", "boxes")},
        "reveals": {str(i): f"Mia buys {i} boxes of pens." for i in range(1, 10)},
    }
    assert clarify.told_values("MIA BUYS 7 BOXES OF PENS.", facts) == {"7"}
    assert clarify.told_values("The number of boxes is 4. Each box holds 6 pens.", facts) == {"4"}
    assert clarify.told_values("Each box holds 6 pens. I had 3 pens.", facts) == set()


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_oracle_asks_then_answers_right(split):
    env = make(split=split)
    for seed in range(100):
        obs, _ = env.reset(seed=seed)
        total, steps = 0.0, []
        while True:
            action = env.oracle_action()
            steps.append(action)
            assert action.endswith(env.stop_strings)
            _, reward, terminated, truncated, info = env.step(action)
            total += reward
            if terminated or truncated:
                break
        facts = env.state.task.facts
        assert steps[0].startswith("<ask>") and len(steps) == 2
        assert info["reward_parts"]["outcome"] == 1.0 and str(info["stop_reason"]) == "answered"
        assert total == pytest.approx(1.0 + 0.1 * math.log2(len(facts["candidates"])) - 2 * 0.05)


def test_answering_without_asking_succeeds_only_at_chance():
    env, rng = make(), np.random.default_rng(0)
    wins, chance, n = 0.0, 0.0, 600
    for seed in range(n):
        env.reset(seed=seed)
        facts = env.state.task.facts
        assert len(set(facts["answers"].values())) == len(facts["candidates"])  # no answer fits two values
        guess = facts["answers"][facts["candidates"][int(rng.integers(len(facts["candidates"])))]]
        *_, info = env.step(f"<answer>{guess}</answer>")
        wins += info["reward_parts"]["outcome"]
        chance += 1 / len(facts["candidates"])
    assert chance / n == pytest.approx((1 / 9 + 1 / 5 + 1 / 2) / 3, abs=0.03)
    assert abs(wins - chance) < 3 * math.sqrt(chance)  # within three standard deviations of chance
    assert wins / n < 0.35


def test_missing_values_are_uniform_over_the_candidates():
    rng = np.random.default_rng(1)
    counts = {}
    for _ in range(2000):
        problem = draw_problem(rng, "train", ["planning"])
        counts[problem.value] = counts.get(problem.value, 0) + 1
    assert sorted(counts) == list(clarify_tasks.HOURS) and min(counts.values()) > 330


def test_splits_hold_disjoint_templates_and_names_in_every_family():
    seen = {split: {"units": set(), "names": set(), "families": set()} for split in ("train", "test")}
    for split in seen:
        rng = np.random.default_rng(0)
        for _ in range(400):
            p = draw_problem(rng, split, FAMILIES)
            assert unit_split(f"{p.template}:{p.missing}") == split
            seen[split]["units"].add((p.template, p.missing))
            seen[split]["names"].update(p.names)
            seen[split]["families"].add(p.family)
    assert not seen["train"]["units"] & seen["test"]["units"]
    assert not seen["train"]["names"] & seen["test"]["names"]
    assert seen["train"]["families"] == seen["test"]["families"] == set(FAMILIES)
    all_units = {u for t in TEMPLATES for u in clarify_tasks.units(t)}
    assert 0.2 < len(clarify_tasks.TEST_UNITS) / len(all_units) < 0.35 and len(clarify_tasks.TEST_NAMES) == len(NAMES) // 4


def test_same_seed_same_transcript_and_a_fork_continues_like_a_replay():
    def play(env, actions):
        out = []
        for action in actions:
            obs, reward, *_, info = env.step(action)
            out.append((obs, reward, dict(info["reward_parts"])))
        return out

    env = make()
    env.reset(seed=5)
    facts = env.state.task.facts
    ask = ask_label(facts["aliases"][facts["missing"]][0])
    prefix = [VAGUE]
    play(env, prefix)
    fork = env.fork()
    tail = [ask, f"<answer>{facts['answers'][facts['value']]}</answer>"]
    forked = play(fork, tail)
    assert env.state.data["possible"] == list(facts["candidates"])  # the fork's ask left the original alone
    fresh = make()
    fresh.reset(seed=5)
    assert play(fresh, prefix + tail)[1:] == forked
    assert forked[-1][2]["outcome"] == 1.0


class LoudUser:
    """A user simulator of the test's own: it greets, then shouts ClarifyUser's replies, and counts its turns."""

    name = "loud"

    def __init__(self):
        self.inner, self.turns = ClarifyUser(), 0

    def start(self, profile: UserProfile, seed: int) -> str:
        return "Hello! " + self.inner.start(profile, seed)

    def respond(self, conversation) -> str:
        self.turns += 1
        return self.inner.respond(conversation).upper()

    def fork(self) -> LoudUser:
        return copy.deepcopy(self)


def test_any_user_simulator_can_play_the_user_and_is_forked_with_the_episode():
    user = LoudUser()
    assert isinstance(user, UserSimulator)
    env = make(user=user)
    obs, _ = env.reset(seed=2)
    assert obs[1]["content"].startswith("Hello! ") and env.state.messages[1] == obs[1]
    facts = env.state.task.facts
    fork = env.fork()
    obs, _, _, _, info = fork.step(env.oracle_action())
    assert obs[0]["content"] == facts["statements"][facts["missing"]].upper()
    assert info["reward_parts"]["info_gain"] == pytest.approx(math.log2(len(facts["candidates"])))
    assert fork.state.data["user"].user.turns == 1 and env.state.data["user"].user.turns == 0 and user.turns == 0


def test_the_shared_rule_user_plays_it_through_the_interface():
    from turngym.envs.dialogue.users import RuleUser

    env = make(user=RuleUser())
    for seed in range(50):
        env.reset(seed=seed)
        facts = env.state.task.facts
        assert gain_of(env, VAGUE)[0] == 0.0
        *_, info = env.step(env.oracle_action())  # RuleUser words it its own way ("It's Mia buys 7 boxes of pens.")
        assert info["reward_parts"]["info_gain"] == pytest.approx(math.log2(len(facts["candidates"])))
        *_, info = env.step(env.oracle_action())
        assert info["reward_parts"]["outcome"] == 1.0


@pytest.mark.parametrize(
    "action, error",
    [
        ("I think it is 5.", "found no <ask>question</ask> and no <answer>"),
        ("<ask>How many boxes?</ask><answer>5</answer>", "either <ask> or <answer>"),
        ("<ask>a?</ask><ask>b?</ask>", "found 2 <ask> blocks"),
        ("<ask>  </ask>", "is empty"),
        ("<ask>How many boxes?", "<ask> is not closed"),
    ],
)
def test_malformed_actions_are_error_observations(action, error):
    env = make()
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert error in info["error"] and obs[0]["content"].startswith("Invalid action")
    assert info["invalid_actions"] == 1 and not terminated and not truncated


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "dev"}, "split must be one of"),
        ({"families": "arithmetic"}, "families must be a non-empty list"),
        ({"families": ["chess"]}, "families must be a non-empty list"),
        ({"families": []}, "families must be a non-empty list"),
        ({"user": "llm"}, "user must be 'rule' or a UserSimulator"),
        ({"user": object()}, "user must be 'rule' or a UserSimulator"),
        ({"turn_cost": -0.1}, "turn_cost must be a number >= 0"),
        ({"turn_cost": "0.05"}, "turn_cost must be a number >= 0"),
        ({"normalise_info_gain": "yes"}, "normalise_info_gain must be a bool"),
    ],
)
def test_bad_arguments_say_what_was_expected(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        clarify.ClarifyEnv(**kwargs)


def test_stop_strings_end_asks_and_answers_with_every_parser():
    for parser in ("tags", "hermes", "openai"):
        env = make(parser=parser)
        assert env.stop_strings[-1] == "</ask>" and "</answer>" in env.stop_strings
        env.reset(seed=1)
        *_, info = env.step(env.oracle_action())
        *_, info = env.step(env.oracle_action())
        assert info["reward_parts"]["outcome"] == 1.0


def test_the_card_example_runs():
    assert doctest.testmod(clarify).failed == 0


@pytest.mark.parametrize("check_name", list(CHECKS))
def test_conformance(check_name):
    CHECKS[check_name](ENV_ID)


@pytest.mark.parametrize("split", ["train", "test"])
def test_booking_answers_are_the_missing_value_asked_for_at_full_gain_and_guessed_at_chance(split):
    env, rng = make(families=["booking"], split=split), np.random.default_rng(0)
    wins, chance, n = 0.0, 0.0, 400
    for seed in range(n):
        env.reset(seed=seed)
        facts = env.state.task.facts
        assert tuple(facts["candidates"]) in (clarify_tasks.DAYS, clarify_tasks.CLOCK)
        assert facts["answers"] == {c: c for c in facts["candidates"]} and facts["value"] in facts["candidates"]
        guess = facts["candidates"][int(rng.integers(len(facts["candidates"])))]
        *_, info = env.fork().step(f"<answer>{guess}</answer>")
        wins += info["reward_parts"]["outcome"]
        chance += 1 / len(facts["candidates"])
        obs, _, _, _, info = env.step(env.oracle_action())
        assert obs[0]["content"] == f"Book it for {facts['value']}."
        assert info["reward_parts"]["info_gain"] == pytest.approx(math.log2(len(facts["candidates"])))
        *_, info = env.step(env.oracle_action())
        assert info["reward_parts"]["outcome"] == 1.0 and env.state.task.answer == facts["value"]
    assert 1 / 8 - 1e-9 <= chance / n <= 1 / 7 + 1e-9
    assert abs(wins - chance) < 3 * math.sqrt(chance)  # a guess without asking: within three standard deviations of chance
