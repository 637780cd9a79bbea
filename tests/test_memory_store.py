"""Memory stores: every operation, BM25 equal to a bm25s index built from scratch, fork isolation, save/load."""

from __future__ import annotations

import random

import bm25s
import pytest

from turngym.memory.bm25 import tokenize
from turngym.memory.errors import MemoryIdError, MemoryStoreError
from turngym.memory.items import ItemMemory
from turngym.memory.store import CoreMemory, KeyValueMemory, MemoryBank
from turngym.tools.retrieval.bm25 import BM25Retriever
from turngym.tools.retrieval.corpus import Document

WORDS = [f"w{i}" for i in range(40)] + ["the", "and", "of"]  # a few stopwords too


def random_text(rng: random.Random, n: int = 6) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(1, n)))


def churn(store: ItemMemory, rng: random.Random, steps: int) -> None:
    """Random inserts, updates and deletes (with compactions when ``compact_every`` is small)."""
    for t in range(steps):
        ids = [it.id for it in store]
        op = rng.random()
        if op < 0.55 or not ids:
            store.insert(random_text(rng), t)
        elif op < 0.8:
            store.update(rng.choice(ids), random_text(rng), t)
        else:
            store.delete(rng.choice(ids))


def test_tokens_are_bm25s_tokens() -> None:
    texts = ["The Cat's 2 HATS, naïve café!", "a I x", "Über straße-42 and_so on", "  "]
    expected = bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)
    assert tokenize(texts, "en") == [[t for t in row if t] for row in expected]


@pytest.mark.parametrize("seed", range(6))
def test_bm25_over_base_and_overlay_equals_a_bm25s_index_from_scratch(seed: int) -> None:
    rng = random.Random(seed)
    store = ItemMemory("s", compact_every=rng.choice([3, 7, 1000]))
    churn(store, rng, 120)
    live = list(store)
    scratch = BM25Retriever.build([Document(it.id, "", it.content) for it in live])
    for _ in range(10):
        query = random_text(rng, 3)
        got = store.search(query, k=len(live))
        want = scratch.search_batch([query], k=len(live))[0]
        assert {h.item.id: pytest.approx(h.score, rel=1e-5) for h in got} == {h.doc_id: h.score for h in want}
        if want:
            assert got[0].score == pytest.approx(want[0].score, rel=1e-5)
        keys = [(-h.score, int(h.item.id[1:])) for h in got]
        assert keys == sorted(keys)  # best first, ties to the older item


def test_bm25_finds_the_item_among_12k() -> None:
    rng = random.Random(0)
    vocab = [f"tok{i}" for i in range(3000)]
    data = {
        "prefix": "s",
        "next_id": 12_001,
        "items": [{"id": f"s{i + 1}", "content": " ".join(rng.choices(vocab, k=12)), "timestamp": i} for i in range(12_000)],
    }
    store = ItemMemory.from_dict(data)
    store.update("s5000", "the zebra drinks blue lemonade at noon", 7)
    new = store.insert("a penguin rides a red bicycle", 8)
    assert len(store) == 12_001
    assert store.search("which zebra drinks lemonade?", 3)[0].item.id == "s5000"
    assert store.search("penguin bicycle", 3)[0].item == new
    store.compact()
    assert store.search("zebra lemonade", 1)[0].item.id == "s5000"
    assert store.search("penguin", 1)[0].item.id == new.id


def test_item_operations_ids_and_errors() -> None:
    store = ItemMemory("e")
    a, b = store.insert("met Alice at the station", 1), store.insert("Bob called", 2)
    assert (a.id, b.id, a.timestamp) == ("e1", "e2", 1)
    assert store.get("e1") == a and "e2" in store and len(store) == 2
    updated = store.update("e1", "met Alice at the airport", 5)
    assert (updated.id, updated.timestamp, store.get("e1").content) == ("e1", 5, "met Alice at the airport")
    assert store.delete("e2") == b and "e2" not in store and len(store) == 1
    assert store.insert("third", 6).id == "e3"  # ids are never reused
    assert [it.id for it in store] == ["e1", "e3"] and store.recent(1)[0].id == "e3"
    assert store.size_chars() == len("met Alice at the airport") + len("third")
    with pytest.raises(MemoryIdError, match=r"no item with id 'e2'; ids look like 'e12' \(latest: e1, e3\)"):
        store.get("e2")
    with pytest.raises(MemoryIdError, match="no item with id 'x'"):
        store.delete("x")
    with pytest.raises(MemoryStoreError, match="content must be non-empty text"):
        store.insert("   ")
    with pytest.raises(MemoryStoreError, match="timestamp must be an int >= 0.*got -1"):
        store.insert("ok", -1)
    with pytest.raises(MemoryStoreError, match="search method must be one of bm25, embedding, hybrid, got 'tfidf'"):
        store.search("alice", 3, "tfidf")
    assert store.search("of the", 3) == []  # stopwords only: no hits


def test_forks_are_isolated_both_ways_across_compactions() -> None:
    rng = random.Random(3)
    parent = ItemMemory("s", compact_every=5)
    churn(parent, rng, 40)
    before = [(it.id, it.content) for it in parent]
    child = parent.fork()
    assert child._base is parent._base  # the base is shared, not copied
    churn(child, rng, 40)  # compacts the child into a base of its own
    assert [(it.id, it.content) for it in parent] == before
    child_state = [(it.id, it.content) for it in child]
    parent.insert("only in the parent", 99)
    parent.delete(before[0][0])
    assert [(it.id, it.content) for it in child] == child_state
    assert parent.search("parent", 1)[0].item.content == "only in the parent"
    assert child.search("parent", 1) == []


def test_core_memory_bound() -> None:
    core = CoreMemory(max_chars=20)
    core.append("name: Ann")
    assert core.append("age: 30") == "name: Ann\nage: 30"
    with pytest.raises(MemoryStoreError, match="at most 20 characters, got 21; shorten it by 1"):
        core.overwrite("x" * 21)
    assert core.text == "name: Ann\nage: 30"  # a refused write changes nothing
    fork = core.fork()
    fork.overwrite("short")
    assert core.text == "name: Ann\nage: 30"


def test_key_value_memory_fork_and_compaction() -> None:
    facts = KeyValueMemory(compact_every=2)
    facts.set("city", "Paris", 1)
    facts.set("pet", "cat", 2)
    fork = facts.fork()
    facts.set("city", "Rome", 3)
    facts.delete("pet")
    facts.set("job", "chef", 4)  # compacts
    assert [(k, f.value) for k, f in facts.items()] == [("city", "Rome"), ("job", "chef")]
    assert [(k, f.value) for k, f in fork.items()] == [("city", "Paris"), ("pet", "cat")]
    assert len(facts) == 2 and facts.get("city").timestamp == 3
    with pytest.raises(MemoryIdError, match="no fact with key 'pet'"):
        facts.get("pet")


def make_bank() -> MemoryBank:
    bank = MemoryBank(core_max_chars=100, facts=True, compact_every=4)
    bank.now = 3
    bank.core.overwrite("User: Ann, likes tea.")
    for i in range(10):
        bank.semantic.insert(f"fact {i}: tea grows in region {i}", i)
        bank.episodic.insert(f"turn {i}: Ann asked about region {i}", i)
    bank.semantic.delete("s2")
    bank.episodic.update("e5", "turn 4: Ann changed her mind", 9)
    bank.facts.set("favourite", "green tea", 2)
    return bank


def test_bank_save_load_equal(tmp_path) -> None:
    bank = make_bank()
    bank.save(tmp_path / "bank.json")
    loaded = MemoryBank.load(tmp_path / "bank.json")
    assert loaded == bank and loaded.to_dict() == bank.to_dict()
    assert loaded.render() == bank.render() and loaded.size_chars() == bank.size_chars()
    assert [h.item.id for h in loaded.semantic.search("region 7 tea", 3)] == [
        h.item.id for h in bank.semantic.search("region 7 tea", 3)
    ]
    assert loaded.semantic.insert("next", 0).id == bank.semantic.insert("next", 0).id == "s11"
    with pytest.raises(MemoryStoreError, match="expected a memory bank of format 'turngym.memory/1', got 'other'"):
        MemoryBank.from_dict({"format": "other"})


def test_bank_fork_render_and_size() -> None:
    bank = make_bank()
    fork = bank.fork()
    fork.core.append("Also coffee.")
    fork.semantic.insert("coffee is roasted", 4)
    fork.facts.delete("favourite")
    assert bank == make_bank() and fork != bank
    text = bank.render(max_items=3, max_item_chars=12)
    assert text.startswith(
        "<core_memory>\nUser: Ann, likes tea.\n</core_memory>\n<semantic_memory>\n[s8] fact 7: tea…\n[s9] fact 8: tea…\n"
    )
    assert "(6 older items not shown; search_memory finds them)" in text
    assert "<facts>\nfavourite: green tea\n</facts>" in text
    expected = (
        len(bank.core.text)
        + sum(len(it.content) for s in (bank.semantic, bank.episodic) for it in s)
        + len("favourite")
        + len("green tea")
    )
    assert bank.size_chars() == expected
    with pytest.raises(MemoryStoreError, match="expected memory type 'semantic' or 'episodic'.*got 'core'"):
        bank.items("core")


@pytest.mark.slow
def test_embedding_and_hybrid_search_with_the_packaged_model() -> None:
    bank = MemoryBank(compact_every=3)
    texts = [
        "The cat sleeps on the sofa",
        "Stock prices fell sharply today",
        "I baked bread this morning",
        "The train was late again",
    ]
    for i, text in enumerate(texts):
        bank.semantic.insert(text, i)
    bank.semantic.insert("A kitten chased a mouse", 5)  # in the overlay, after a compaction
    fork = bank.fork()
    fork.semantic.delete("s1")
    assert bank.semantic.search("feline pets", 2, "embedding")[0].item.id in {"s1", "s5"}
    assert [h.item.id for h in fork.semantic.search("feline pets", 1, "embedding")] == ["s5"]
    assert fork.semantic.search("markets and shares", 1, "embedding")[0].item.id == "s2"
    hybrid = bank.semantic.search("bread baking", 2, "hybrid")
    assert hybrid[0].item.id == "s3" and hybrid[0].score > hybrid[1].score
    fork.semantic.compact()  # carries the embeddings over
    assert fork.semantic._base.vectors is not None and fork.semantic.search("kitten", 1, "embedding")[0].item.id == "s5"
