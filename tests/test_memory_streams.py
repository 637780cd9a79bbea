"""Memory streams: lazy, deterministic chunks with planted facts, and questions checked against them."""

from __future__ import annotations

import pickle
import re
import time
import tracemalloc

import pytest

from turngym.envs.memory.haystack import haystack
from turngym.envs.memory.streams import MemoryStream, exact_match, multihop

SMALL = dict(stream_tokens=6_000, chunk_tokens=500, num_facts=20, num_updates=5, num_questions=12)
ALL = ("AR", "TTL", "LRU", "CR", "MH")
_END = re.compile(r"[.!?][\"')\]]*$")


def _chunks(s: MemoryStream) -> list[str]:
    return [s.chunk(i) for i in range(s.num_chunks)]


def _invented(s: MemoryStream) -> set[str]:
    """The invented words of a stream: every capitalised word of a subject or value that is not a fixed word."""
    fixed = {"Mills", "Foundry", "Carriers", "Textiles", "Instruments", "Brewers", "Outfitters", "Printworks"}
    words = set()
    for f in s.facts:
        value = "" if f.attribute in ("birthday", "code") else f.value
        text = value if f.kind == "example" else f"{f.subject} {value}"
        words |= {w for w in text.split() if w[0].isupper() and w not in fixed}
    return words


def test_same_seed_same_stream_other_seed_other_stream():
    a, b, c = (
        MemoryStream(7, **SMALL, competencies=ALL),
        MemoryStream(7, **SMALL, competencies=ALL),
        MemoryStream(8, **SMALL, competencies=ALL),
    )
    assert a == b and _chunks(a) == _chunks(b) and a.facts == b.facts and a.questions == b.questions
    assert a.chunk(3) == a.chunk(3)
    assert all(x != y for x, y in zip(_chunks(a), _chunks(c), strict=True))
    assert {f.sentence for f in a.facts}.isdisjoint(f.sentence for f in c.facts)


def test_token_counts_are_exact_and_chunks_end_at_sentence_ends():
    s = MemoryStream(1, **SMALL, competencies=ALL)
    hay = set(haystack().sentences)
    needles = {f.sentence for f in s.facts}
    assert s.num_chunks == 12 and sum(s.chunk_words(i) for i in range(s.num_chunks)) == 6_000
    for i in range(s.num_chunks):
        sentences = s.chunk_sentences(i)
        assert s.chunk(i) == " ".join(sentences) and len(s.chunk(i).split()) == s.chunk_words(i)
        assert all(_END.search(x) and (x in hay or x in needles) for x in sentences)
    odd = MemoryStream(2, stream_tokens=10_001, chunk_tokens=700, num_facts=8, num_updates=2, num_questions=4, haystack="world")
    sizes = [len(odd.chunk(i).split()) for i in range(odd.num_chunks)]
    assert odd.num_chunks == 14 and max(sizes) - min(sizes) <= 1 and abs(sum(sizes) - 10_001) <= 14 * 4


def test_every_fact_sits_in_its_planned_chunk_only():
    s = MemoryStream(3, **SMALL, competencies=ALL)
    chunks = _chunks(s)
    for f in s.facts:
        assert [i for i, text in enumerate(chunks) if f.sentence in text] == [f.chunk]
        assert chunks[f.chunk].count(f.sentence) == 1 and f in s.facts_in_chunk(f.chunk)
    people = {f.subject for f in s.facts if f.kind != "example"}
    for name in people:
        planned = {f.chunk for f in s.facts if name in (f.subject, f.value)}
        assert {i for i, text in enumerate(chunks) if name in text} == planned
    assert [f.serial for f in s.facts] == list(range(1, len(s.facts) + 1))
    assert [(f.chunk, f.offset) for f in s.facts] == sorted((f.chunk, f.offset) for f in s.facts)


def test_updates_come_later_with_higher_serials_and_questions_want_the_newest():
    s = MemoryStream(4, **{**SMALL, "num_questions": 10}, competencies=("CR", "AR"))
    by_id = {f.id: f for f in s.facts}
    updates = [f for f in s.facts if f.kind == "update"]
    assert len(updates) == 5
    for u in updates:
        old = by_id[u.replaces]
        assert (old.subject, old.attribute) == (u.subject, u.attribute) and old.value != u.value
        assert u.serial > old.serial and u.chunk > old.chunk and u.sentence.startswith(f"Update #{u.serial}: ")
    cr = [q for q in s.questions if q.competency == "CR"]
    assert len(cr) == 5
    for q in cr:
        old, new = (by_id[i] for i in q.fact_ids)
        assert new.replaces == old.id and q.answers == (new.value,) and exact_match(old.value, q.answers) == 0.0
        assert q.chunks == (old.chunk, new.chunk) and old.subject in q.text
    for q in s.questions:
        if q.competency == "AR":
            (f,) = (by_id[i] for i in q.fact_ids)
            assert f.kind == "fact" and f.value in q.answers and not any(u.replaces == f.id for u in updates)


def test_count_and_classification_golds_follow_from_the_facts():
    s = MemoryStream(5, **{**SMALL, "num_questions": 8}, competencies=("LRU", "TTL"))
    by_id = {f.id: f for f in s.facts}
    latest = {}
    for f in s.facts:  # stream order: the newest statement wins
        if f.kind != "example":
            latest[(f.subject, f.attribute)] = f.value
    examples = [f for f in s.facts if f.kind == "example"]
    for q in s.questions:
        if q.competency == "LRU":
            value = re.search(r" (?:in|for|by) ([A-Z][\w ]*)\?$", q.text).group(1)
            attr = "lives_in" if "live" in q.text or "reside" in q.text else "works_for"
            assert q.answers[0] == str(sum(a == attr and v == value for (_, a), v in latest.items()))
            assert q.chunks == tuple(sorted({by_id[i].chunk for i in q.fact_ids}))
        else:
            colour = re.search(r"an? (\w+) shell", q.text).group(1)
            legs = int(re.search(r"(\d+) legs", q.text).group(1))
            same = [f for f in examples if f.subject.split()[1] == colour]
            assert (
                same
                and {f.value for f in same} == set(q.answers)
                and f"specimen {colour} {legs}" not in {f.subject for f in examples}
            )
            assert set(q.fact_ids) == {f.id for f in same}


def test_multihop_facts_sit_in_different_chunks_among_look_alikes():
    s = multihop(9, 40_000, chunk_tokens=2_000, num_questions=3, num_distractors=30)
    by_id = {f.id: f for f in s.facts}
    assert s.num_chunks == 20 and len(s.questions) == 3
    for q in s.questions:
        job, hq = (by_id[i] for i in q.fact_ids)
        assert (job.attribute, hq.attribute) == ("works_for", "headquartered_in") and hq.subject == job.value
        assert job.chunk != hq.chunk and len(q.chunks) == 2 and q.answers == (hq.value,)
        assert job.subject in q.text and job.value not in q.text and hq.value not in q.text
        assert [f for f in s.facts if f.attribute == "works_for" and f.value == job.value] == [job]
    assert sum(f.attribute in ("works_for", "headquartered_in") for f in s.facts) > 6


@pytest.mark.parametrize("split", ["train", "test"])
def test_invented_names_are_not_in_the_haystack(split):
    s = MemoryStream(6, **SMALL, competencies=ALL, split=split)
    hay_words = set(re.findall(r"[a-z]+", " ".join(haystack().sentences).lower()))
    names = _invented(s)
    assert len(names) > 20 and {n.lower() for n in names}.isdisjoint(hay_words)
    for q in s.questions:
        if q.competency != "LRU":
            assert all(exact_match(q.text, [a]) == 0.0 for a in q.answers), q


def test_splits_share_no_invented_word_and_no_template():
    train = [MemoryStream(k, **SMALL, competencies=ALL, split="train") for k in range(3)]
    test = [MemoryStream(k, **SMALL, competencies=ALL, split="test") for k in range(3)]

    def skeletons(streams):
        out = set()
        for s in streams:
            names = sorted(_invented(s) | {f.value for f in s.facts}, key=len, reverse=True)
            for text in [q.text for q in s.questions] + [f.sentence for f in s.facts]:
                for n in names:
                    text = text.replace(n, "_")
                out.add(re.sub(r"\d+", "_", text))
        return out

    assert set().union(*map(_invented, train)).isdisjoint(set().union(*map(_invented, test)))
    assert skeletons(train).isdisjoint(skeletons(test))


def test_chunk_cost_and_memory_do_not_grow_with_the_stream():
    short = MemoryStream(11, stream_tokens=10_000, chunk_tokens=1_000)
    long = MemoryStream(11, stream_tokens=1_000_000, chunk_tokens=1_000)
    assert long.num_chunks == 1_000
    picks = {short: range(0, 10), long: range(0, 1_000, 100)}

    def cost(s):
        best = float("inf")
        for _ in range(7):
            t = time.perf_counter()
            for i in picks[s]:
                s.chunk(i)
            best = min(best, time.perf_counter() - t)
        return best

    cost(short), cost(long)  # warm up
    assert cost(long) / cost(short) < 1.5
    assert len(pickle.dumps(long)) < 1.2 * len(pickle.dumps(short))
    tracemalloc.start()
    long.chunk(999)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000


def test_exact_match_is_whole_word_substring_after_normalisation():
    assert exact_match("I believe it is The Vufyt!", ["vufyt"]) == 1.0
    assert exact_match("There are 13 of them.", ["3", "three"]) == 0.0
    assert exact_match("three people", ["3", "three"]) == 1.0
    assert exact_match(None, ["x"]) == 0.0
    with pytest.raises(ValueError, match="non-empty list of strings"):
        exact_match("x", [])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(competencies=("AR", "XX")), "competencies"),
        (dict(chunk_tokens=10), "chunk_tokens >= 64"),
        (dict(stream_tokens=2_000, chunk_tokens=1_000, num_facts=400, num_updates=0), "too many facts"),
        (dict(num_facts=4, num_updates=9), "num_updates=9 exceeds"),
        (dict(num_questions=20, num_updates=2, competencies=("CR",)), "CR questions need"),
        (dict(split="dev"), "split"),
        (dict(stream_tokens=1_000, chunk_tokens=1_000, competencies=("MH",)), "at least 2 chunks"),
    ],
)
def test_bad_settings_say_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MemoryStream(0, **kwargs)
    with pytest.raises(IndexError, match="chunk index"):
        MemoryStream(
            0, stream_tokens=2_000, chunk_tokens=1_000, num_updates=0, num_facts=4, competencies=("AR",), num_questions=1
        ).chunk(2)


def test_module_examples_run():
    import doctest

    from turngym.envs.memory import streams

    assert doctest.testmod(streams).failed == 0
