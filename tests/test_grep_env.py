"""GrepSearch: conformance on a hand-made corpus, the oracle solves every question, a random policy
does not, forks are independent, command outputs, failures and process rewards."""

from __future__ import annotations

import doctest

import gymnasium as gym
import pytest

import turngym
from turngym.agents import OraclePolicy, RandomPolicy
from turngym.engine import play_episodes
from turngym.envs.conformance import check, check_fork
from turngym.envs.registration import env_card
from turngym.envs.search import grep_env as grep_env_module
from turngym.envs.search.grep_env import GrepSearchEnv
from turngym.envs.search.qa import QAExample
from turngym.tools.retrieval.corpus import Document

ENV_ID = "turngym/GrepSearch-v0"
TEST_ID = "tests/GrepSearchSmall-v0"

DOCS = [
    Document("tekrou", "Tekrou River", "The Tekrou River rises on Mount Vell. It is 410 km long."),
    Document("vell", "Mount Vell", "Mount Vell is 3,120 metres high. It was first climbed by Ida Marn."),
    Document("marn", "Ida Marn", "Ida Marn was born in Oska in 1890. She worked as a surveyor."),
    Document("oska", "Oska", "Oska is a city on the Tekrou River. Its population is 52,000."),
    Document("new-oska", "New Oska", "New Oska is a town near Oska. Its population is 4,100."),
    Document("lake vell", "Lake Vell", "Lake Vell lies below Mount Vell."),
]
QUESTIONS = [
    QAExample("q-len", "How long is the Tekrou River?", ("410 km", "410 kilometres"), gold_doc_ids=(("tekrou",),), hops=1),
    QAExample(
        "q-height",
        "How high is the mountain the Tekrou River rises on?",
        ("3,120 metres",),
        gold_doc_ids=(("tekrou",), ("vell",)),
        hops=2,
    ),
    QAExample(
        "q-born",
        "Where was the first climber of the mountain on which the Tekrou River rises born?",
        ("Oska",),
        gold_doc_ids=(("tekrou",), ("vell",), ("marn",)),
        hops=3,
    ),
    QAExample(
        "q-cmp",
        "Which has more people, Oska or New Oska?",
        ("Oska",),
        gold_doc_ids=(("oska", "new-oska"),),
        hops=1,
        kind="comparison",
    ),
]
KWARGS = {"corpus": DOCS, "questions": QUESTIONS}

if ENV_ID not in gym.registry:  # the lead registers it with the builtin envs
    turngym.register(ENV_ID, entry_point="turngym.envs.search.grep_env:GrepSearchEnv")


@pytest.fixture(scope="module")
def env_id():
    turngym.register(TEST_ID, entry_point="turngym.envs.search.grep_env:GrepSearchEnv", kwargs=KWARGS)
    yield TEST_ID
    del gym.registry[TEST_ID]


@pytest.fixture
def env():
    env = GrepSearchEnv(DOCS, QUESTIONS)
    yield env
    env.close()


def play_oracle(env, **reset_kwargs):
    obs, info = env.reset(**reset_kwargs)
    parts, turns = [], 0
    while True:
        obs, reward, terminated, truncated, info = env.step(env.oracle_action())
        turns += 1
        parts.append(info["reward_parts"])
        if terminated or truncated:
            return info, parts, turns


def test_card_and_doctests():
    card = env_card(ENV_ID)
    for section in ("Description:", "Observation:", "Action:", "Rewards:", "Episode End:", "Arguments:", ">>>"):
        assert section in card
    result = doctest.testmod(grep_env_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_conformance_all_checks(env_id):
    results = check(env_id)
    assert [r.name for r in results] == ["gymnasium", "determinism", "fork", "fuzz", "episode_state"]
    failed = [f"{r.name}: {r.detail}" for r in results if not r.ok]
    assert not failed, failed


@pytest.mark.parametrize("parser", ["hermes", "openai"])
def test_fork_conforms_with_other_parsers(env_id, parser):
    check_fork(env_id, parser=parser)


@pytest.mark.parametrize("parser", ["tags", "hermes", "openai"])
def test_oracle_solves_every_question(parser):
    env = GrepSearchEnv(DOCS, QUESTIONS, parser=parser)
    for index, q in enumerate(QUESTIONS):
        info, parts, turns = play_oracle(env, seed=index, options={"question_index": index})
        assert info["stop_reason"] == "answered" and info["reward_parts"]["outcome"] == 1.0, q.id
        assert turns == 2 * len(q.gold_doc_ids) + 1
        assert sum(p.get("gold_hit", 0.0) for p in parts) == len(q.gold_doc_ids)  # each cat shows a new gold doc
        assert all(p.get("query_penalty", 0.0) == 0.0 for p in parts)


def test_oracle_through_a_vector_env(env_id):
    vec = turngym.make_vec(env_id, 2)
    results = play_episodes(vec, OraclePolicy(), episodes=8)
    assert all(r.outcome == 1.0 and r.stop_reason == "answered" for r in results)


def test_random_policy_does_not_solve_it(env_id):
    vec = turngym.make_vec(env_id, 4)
    results = play_episodes(vec, RandomPolicy.for_env(env_id, seed=0), episodes=40)
    assert sum(r.outcome for r in results) / len(results) < 0.1


def test_oracle_commands_find_gold_files_by_title(env):
    env.reset(options={"question_index": 3})
    assert env.oracle_commands() == ["grep -lxF -e Oska -e 'New Oska' docs/*", "cat docs/oska.txt docs/new-oska.txt"]
    assert env.shell.run(env.oracle_commands()[0]).output == "docs/new-oska.txt\ndocs/oska.txt"
    env.reset(options={"question_index": 0})
    assert env.state.task.facts["gold_paths"] == [["docs/tekrou.txt"]]
    assert env.paths["lake vell"] == "docs/lake_vell.txt"


def test_task_and_facts(env):
    obs, info = env.reset(seed=0, options={"question_index": 1})
    assert [m["role"] for m in obs] == ["system", "user"]
    assert "docs/<id>.txt" in obs[0]["content"] and "<shell>command</shell>" in obs[0]["content"]
    assert obs[1]["content"] == "Question: How high is the mountain the Tekrou River rises on?"
    facts = env.state.task.facts
    assert facts["answers"] == ["3,120 metres"] and facts["gold_doc_ids"] == [["tekrou"], ["vell"]]
    assert info["task_id"] == "q-height"
    seen = {env.reset(seed=s)[1]["task_id"] for s in range(40)}
    assert seen == {q.id for q in QUESTIONS}  # drawn with the env's seeded generator


def test_command_output_and_empty_output(env):
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("<shell>grep -c -i tekrou docs/*</shell>")
    assert obs[0]["role"] == "tool" and obs[0]["content"] == (
        "docs/lake_vell.txt:0\ndocs/marn.txt:0\ndocs/new-oska.txt:0\ndocs/oska.txt:1\ndocs/tekrou.txt:2\ndocs/vell.txt:0"
    )
    assert info["tool_calls"][0]["ok"] and info["error"] is None and not terminated
    obs, *_ = env.step("<shell>grep zzz docs/*</shell>")
    assert obs[0]["content"] == "(no output)"


def test_failed_command_is_a_tool_failure_not_an_invalid_action(env):
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("<shell>grep -o Oska docs/* > out.txt</shell>")
    assert obs[0]["content"].startswith("Error (tool raised): shell raised ShellError: not supported: redirection")
    assert info["tool_calls"][0]["ok"] is False and info["tool_calls"][0]["error_kind"] == "raised"
    assert info["error"] is None and info["invalid_actions"] == 0
    obs, *_ = env.step("<shell>awk 1 titles.txt</shell>")
    assert "unknown command 'awk'; supported: cat, cut, grep" in obs[0]["content"]
    obs, _, _, _, info = env.step("<shell></shell>")
    assert "empty command" in obs[0]["content"]
    obs, _, _, _, info = env.step("no tag at all")
    assert info["error"] is not None and info["invalid_actions"] == 1


def test_output_is_truncated_with_a_note():
    env = GrepSearchEnv(DOCS, QUESTIONS, max_output_lines=3)
    env.reset(seed=0)
    obs, *_ = env.step("<shell>cat docs/*</shell>")
    lines = obs[0]["content"].split("\n")
    assert len(lines) == 4 and lines[-1].startswith("[output truncated: 15 more line(s)")


def test_process_rewards_gold_hit_and_repeated_commands(env):
    env.reset(seed=0, options={"question_index": 0})  # gold: tekrou
    _, reward, _, _, info = env.step("<shell>grep -l Tekrou docs/*</shell>")
    assert info["reward_parts"] == {"gold_hit": 0.0, "query_penalty": 0.0}  # names only: nothing read
    _, reward, _, _, info = env.step("<shell>grep Tekrou docs/tekrou.txt</shell>")
    assert info["reward_parts"] == {"gold_hit": 1.0, "query_penalty": 0.0} and reward == pytest.approx(0.1)
    _, reward, _, _, info = env.step("<shell>cat docs/tekrou.txt</shell>")
    assert info["reward_parts"]["gold_hit"] == 0.0  # not new
    _, reward, _, _, info = env.step("<shell>cat docs/tekrou.txt</shell>")
    assert info["reward_parts"]["query_penalty"] == -1.0 and reward == pytest.approx(-0.1)
    ctx = env.last_context
    assert ctx.extras["retrieved"] == [["tekrou"]] and "tekrou" in ctx.extras["previously_retrieved"]
    assert env.state.data["queries"][-1] == "cat docs/tekrou.txt"


def test_answer_metrics():
    env = GrepSearchEnv(DOCS, QUESTIONS, answer_metric="f1")
    env.reset(options={"question_index": 0})
    _, reward, terminated, _, info = env.step("<answer>410</answer>")
    assert terminated and info["reward_parts"]["outcome"] == pytest.approx(2 / 3)
    env = GrepSearchEnv(DOCS, QUESTIONS)
    env.reset(options={"question_index": 0})
    assert env.step("<answer>The 410 kilometres.</answer>")[4]["reward_parts"]["outcome"] == 1.0  # SQuAD-normalised alias
    env.reset(options={"question_index": 0})
    assert env.step("<answer>410</answer>")[4]["reward_parts"]["outcome"] == 0.0


def test_fork_is_independent_and_shares_the_shell(env):
    env.reset(seed=0, options={"question_index": 2})
    env.step(env.oracle_action())
    fork = env.fork()
    assert fork.shell is env.shell and fork.state is not env.state
    fork_obs = fork.step("<shell>cat docs/vell.txt</shell>")
    main_obs = env.step("<shell>ls docs</shell>")
    assert fork_obs[0][0]["content"].startswith("Mount Vell") and main_obs[0][0]["content"].startswith("lake_vell.txt")
    assert fork.state.data["queries"][-1] == "cat docs/vell.txt" and env.state.data["queries"][-1] == "ls docs"
    assert fork.state.data["retrieved"][-1] == ["vell"] and env.state.data["retrieved"][-1] == []
    assert len(env.state.messages) == len(fork.state.messages)
    twin = env.fork()
    a, b = env.step("<shell>grep -n Oska docs/*</shell>"), twin.step("<shell>grep -n Oska docs/*</shell>")
    assert a[0] == b[0] and a[1:] == b[1:]
    assert env.oracle_action() == twin.oracle_action()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"corpus": DOCS, "questions": QUESTIONS, "answer_metric": "bleu"}, "answer_metric must be one of"),
        ({"corpus": DOCS, "questions": []}, "expected at least one question"),
        ({"corpus": DOCS}, "give both corpus and questions"),
        (
            {"corpus": DOCS[1:], "questions": QUESTIONS},
            "question 'q-len' names gold document 'tekrou', which is not in the corpus",
        ),
        ({"corpus": DOCS, "questions": QUESTIONS, "max_output_chars": 0}, "max_output_chars must be an int >= 1"),
        ({"corpus": [*DOCS, DOCS[0]], "questions": QUESTIONS}, "expected unique document ids"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GrepSearchEnv(**kwargs)


def test_bad_question_index_raises(env):
    with pytest.raises(ValueError, match=r"options\['question_index'\] must be an int in \[0, 4\)"):
        env.reset(options={"question_index": 4})


def test_default_world_oracle_solves_questions():
    env = gym.make(ENV_ID)
    for seed in range(30):
        info, parts, turns = play_oracle(env, seed=seed)
        assert info["reward_parts"]["outcome"] == 1.0, env.state.task
