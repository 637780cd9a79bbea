"""MemoryQA-v0 and MemAgent-v0: the oracle answers from memory it wrote, a memoryless policy scores ~0, hooks, forks, splits."""

from __future__ import annotations

import re
import statistics

import pytest

import turngym
from turngym.agents.scripted import ScriptedPolicy
from turngym.envs.memory.hooks import fact_in_text
from turngym.envs.memory.streams import exact_match

QA = dict(stream_tokens=1_200, chunk_tokens=200, num_facts=8, num_updates=2, num_questions=4, haystack="world")
AGENT = dict(stream_tokens=1_200, chunk_tokens=200, num_distractors=6, haystack="world")
COMBOS = [
    ("turngym/MemoryQA-v0", "tools"),
    ("turngym/MemoryQA-v0", "overwrite"),
    ("turngym/MemAgent-v0", "overwrite"),
    ("turngym/MemAgent-v0", "tools"),
]


def make(env_id: str, memory: str, **kwargs):
    base = QA if env_id == "turngym/MemoryQA-v0" else AGENT
    return turngym.make(env_id, memory=memory, **{**base, **kwargs})


def oracle(env, messages):
    return env.unwrapped.oracle_action()


def play(env, seed=None, act=oracle, reset=True):
    """Steps until the end; each step's (action, reward, info) and the final info."""
    messages = env.reset(seed=seed)[0] if reset else None
    steps = []
    while True:
        action = act(env, messages)
        messages, reward, terminated, truncated, info = env.step(action)
        steps.append((action, reward, info))
        if terminated or truncated:
            return steps, info


def parts(steps, name):
    return [info["reward_parts"][name] for _, _, info in steps if name in info["reward_parts"]]


@pytest.mark.parametrize(("env_id", "memory"), COMBOS)
@pytest.mark.parametrize("competencies", [("AR", "CR"), ("AR", "TTL", "LRU", "CR"), ("MH", "AR")])
def test_oracle_answers_every_question_from_memory_it_wrote(env_id, memory, competencies):
    kwargs = {"competencies": list(competencies)} if env_id == "turngym/MemoryQA-v0" else {}
    env = make(env_id, memory, **kwargs)
    for seed in range(8):
        steps, info = play(env, seed)
        assert info["reward_parts"]["outcome"] == 1.0 and info["stop_reason"] == "answered", (seed, info)
        # every answer to a fact question is written in the memory the oracle itself wrote
        held = env.unwrapped._memory_text()
        answers = [re.search(r"<answer>(.*)</answer>", a).group(1) for a, _, _ in steps if "<answer>" in a]
        questions = env.unwrapped.stream.questions
        assert len(answers) == len(questions)
        for q, answer in zip(questions, answers, strict=True):
            if q.competency in ("AR", "CR", "MH"):
                assert exact_match(held, [answer]) == 1.0, (answer, held)
        # a wiped memory before the questions: the same oracle cannot answer (it never reads the stream)
        env.reset(seed=seed)
        while env.unwrapped.state.data["question"] < 0:
            env.step(env.unwrapped.oracle_action())
        env.unwrapped.state.data["memory"] = "" if memory == "overwrite" else type(env.unwrapped.state.data["memory"])()
        assert play(env, reset=False)[1]["reward_parts"]["outcome"] == 0.0


@pytest.mark.parametrize(("env_id", "memory"), COMBOS)
def test_memory_hooks_on_oracle_episodes(env_id, memory):
    env = make(env_id, memory, **({"competencies": ["AR", "CR", "MH"], "num_questions": 6} if "QA" in env_id else {}))
    for seed in range(5):
        steps, info = play(env, seed)
        stream, needed = env.unwrapped.stream, set(env.unwrapped.state.task.facts["needed"])
        with_needed = [i for i in range(stream.num_chunks) if any(f.id in needed for f in stream.facts_in_chunk(i))]
        with_updates = [i for i in with_needed if any(f.replaces and f.id in needed for f in stream.facts_in_chunk(i))]
        assert parts(steps, "memory/store") == [1.0] * len(with_needed)
        assert parts(steps, "memory/update") == [1.0] * len(with_updates)
        assert set(parts(steps, "memory/keep")) == {1.0}  # the oracle keeps what it stored to the end
        assert len(parts(steps, "memory/keep")) >= stream.num_chunks - 1 - min(with_needed)
        searches = [a for a, _, _ in steps if "search_memory" in a]
        assert parts(steps, "memory/search") == [1.0] * len(searches)
        assert bool(searches) == (memory == "tools")
        (compression,) = parts(steps, "memory/compression")
        assert 0.0 < compression <= 0.05


def test_tools_oracle_searches_when_memory_outgrows_the_prompt():
    settings = dict(stream_tokens=4_000, num_facts=40, num_updates=4, num_questions=24, competencies=["AR"])
    env = make("turngym/MemoryQA-v0", "tools", **settings)
    for seed in range(3):
        steps, info = play(env, seed)
        assert info["reward_parts"]["outcome"] == 1.0
        assert len(env.unwrapped.state.data["memory"].semantic) > 20
        contexts = env.unwrapped.state.contexts
        hidden = 0
        for context in contexts[env.unwrapped.stream.num_chunks :]:  # the question contexts
            system, question, call, result, answer = context[0]["content"], context[1], context[2], context[3], context[4]
            gold = re.search(r"<answer>(.*)</answer>", answer["content"]).group(1)
            assert question["content"].startswith("Question ") and gold not in question["content"]
            assert "older items not shown; search_memory finds them" in system and "search_memory" in str(call)
            assert exact_match(result["content"], [gold]) == 1.0
            hidden += exact_match(system, [gold]) == 0.0
        assert hidden > 0  # some answers were in memory but not in the prompt: only search found them
        assert parts(steps, "memory/search") == [1.0] * 24


def _memoryless(streams_of_other_seeds):
    """Moves on at every chunk, then answers with a value of the asked kind from other seeds' streams."""
    pool: dict[str, list[str]] = {}
    for s in streams_of_other_seeds:
        for f in s.facts:
            pool.setdefault(f.attribute, []).append(f.value)
    cues = [("headquartered", "headquartered_in"), ("head office", "headquartered_in"), ("live", "lives_in"),
            ("home", "lives_in"), ("work", "works_for"), ("employ", "works_for"), ("pet", "pet"),
            ("born", "birthday"), ("code", "code")]  # fmt: skip
    count = [0]

    def act(conversation):
        system, last = conversation[0]["content"], conversation[-1]["content"]
        if re.search(r"^Chunk \d+ of \d+:", last, re.M):
            return "<memory></memory>" if "<memory>" in system else "<next>moving on</next>"
        question = last.split("\n")[0].lower()
        attr = next(a for cue, a in cues if cue in question)
        count[0] += 1
        return f"<answer>{pool[attr][count[0] % len(pool[attr])]}</answer>"

    return ScriptedPolicy(act)


@pytest.mark.parametrize(("env_id", "memory"), COMBOS)
def test_a_policy_that_stores_nothing_scores_near_zero(env_id, memory):
    env = make(env_id, memory, **({"competencies": ["AR", "CR", "MH"], "num_questions": 6} if "QA" in env_id else {}))
    others = []
    for seed in range(100, 110):
        env.reset(seed=seed)
        others.append(env.unwrapped.stream)
    policy = _memoryless(others)
    outcomes = []
    for seed in range(24):
        steps, info = play(env, seed, act=lambda e, messages: policy.act_batch([messages])[0].action)
        assert info["stop_reason"] == "answered"
        outcomes.append(info["reward_parts"]["outcome"])
        assert set(parts(steps, "memory/store")) == {0.0} and set(parts(steps, "memory/update")) <= {0.0}
        assert set(parts(steps, "memory/keep")) <= {0.0}
        assert not parts(steps, "memory/search")
    assert statistics.mean(outcomes) <= 0.1


@pytest.mark.parametrize("question_first", [True, False])
def test_keep_scores_later_chunks_and_a_named_subject_lets_the_value_alone_hold_a_fact(question_first):
    """A memory of the fact's value alone is stored when a question shown with every chunk names its subject;
    dropping it later loses memory/keep at each later chunk, keeping it scores 1."""
    env = make("turngym/MemoryQA-v0", "overwrite", num_facts=1, num_updates=0, num_questions=1, competencies=["AR"],
               question_first=question_first)  # fmt: skip
    seen = {"store": [], "keep": []}
    for seed in range(12):
        for drop in (False, True):
            env.reset(seed=seed)
            (fact,) = env.unwrapped.stream.facts
            steps = []
            while env.unwrapped.state.data["question"] < 0:
                chunk = env.unwrapped.state.data["chunk"]
                write = fact.value if chunk == fact.chunk or (chunk > fact.chunk and not drop) else "nothing"
                steps.append((None, 0.0, env.step(f"<memory>{write}</memory>")[4]))
            seen["store"] += parts(steps, "memory/store")
            keep = parts(steps, "memory/keep")
            assert len(keep) == env.unwrapped.stream.num_chunks - 1 - fact.chunk
            assert set(keep) <= ({0.0} if drop or not question_first else {1.0})
            seen["keep"] += keep
    assert seen["store"] == [float(question_first)] * 24 and seen["keep"]


@pytest.mark.parametrize(("env_id", "memory"), COMBOS)
def test_fork_at_every_chunk_continues_identically_with_an_independent_bank(env_id, memory):
    env = make(env_id, memory)
    reference = [r for _, r, _ in play(env, 3)[0]]
    env.reset(seed=3)
    done, taken = 0, 0
    while env.unwrapped.state.data["question"] < 0:
        before = env.unwrapped.state.data["chunk"]
        env.step(env.unwrapped.oracle_action())
        taken += 1
        if env.unwrapped.state.data["chunk"] == before:
            continue
        fork = env.unwrapped.fork()
        mine, theirs = fork.state.data["memory"], env.unwrapped.state.data["memory"]
        if memory == "tools":
            assert mine is not theirs
            size = len(theirs.semantic)
            mine.semantic.insert("Zzyx Qorb lives in Vlaq.", 0)
            assert len(theirs.semantic) == size and len(mine.semantic) == size + 1
            mine.semantic.delete(mine.semantic.recent(1)[0].id)
        rest_fork = [r for _, r, _ in play(fork, reset=False)[0]]
        assert reference[taken:] == rest_fork
        done += 1
    assert done == env.unwrapped.stream.num_chunks
    assert [r for _, r, _ in play(env, reset=False)[0]] == reference[taken:]


def test_train_and_test_splits_share_no_fact_subject():
    def subjects(split, env_id):
        env = make(env_id, "overwrite", split=split)
        out = set()
        for seed in range(6):
            env.reset(seed=seed)
            out |= {f.subject for f in env.unwrapped.stream.facts if f.kind != "example"}
        return out

    for env_id in ("turngym/MemoryQA-v0", "turngym/MemAgent-v0"):
        train, test = subjects("train", env_id), subjects("test", env_id)
        assert len(train) > 20 and len(test) > 20 and train.isdisjoint(test)
        words = lambda names: {w for n in names for w in n.split()}  # noqa: E731
        fixed = {"Mills", "Foundry", "Carriers", "Textiles", "Instruments", "Brewers", "Outfitters", "Printworks"}
        assert (words(train) - fixed).isdisjoint(words(test) - fixed)


@pytest.mark.parametrize("haystack", ["world", "wiki+world"])
def test_gold_answers_appear_only_in_fact_sentences(haystack):
    for env_id, kwargs in (("turngym/MemoryQA-v0", {"competencies": ["AR", "CR", "MH"]}), ("turngym/MemAgent-v0", {})):
        env = make(env_id, "overwrite", haystack=haystack, stream_tokens=3_000, **kwargs)
        for seed in range(10):
            env.reset(seed=seed)
            stream = env.unwrapped.stream
            planted = {f.sentence for f in stream.facts}
            hay = " ".join(x for i in range(stream.num_chunks) for x in stream.chunk_sentences(i) if x not in planted)
            for q in stream.questions:
                assert exact_match(hay, q.answers) == 0.0, (q, seed)
                assert exact_match(q.text, q.answers) == 0.0
                facts = [f for f in stream.facts if f.id in q.fact_ids]
                assert any(fact_in_text(f.sentence, f) and exact_match(f.sentence, q.answers) for f in facts)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(memory="x"), "memory must be 'tools' or 'overwrite', got 'x'"),
        (dict(competencies="AR"), r"competencies must be a list of \['AR', 'TTL', 'LRU', 'CR', 'MH'\], got 'AR'"),
        (dict(memory_chars=3), "memory_chars must be an int >= 16, got 3"),
    ],
)
def test_bad_arguments_say_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        turngym.make("turngym/MemoryQA-v0", **{**QA, **kwargs})
    if "competencies" not in kwargs:
        with pytest.raises(ValueError, match=message):
            turngym.make("turngym/MemAgent-v0", **{**AGENT, **kwargs})
