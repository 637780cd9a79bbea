"""Mem-alpha memory tools: schemas, what they do to a MemoryBank, and the errors the model reads."""

from __future__ import annotations

import pytest

from turngym.memory.store import MemoryBank
from turngym.memory.tools import (
    MEMORY_TOOLS,
    memory_delete,
    memory_from_action,
    memory_update,
    new_memory_insert,
    search_memory,
)

TYPES = ["core", "semantic", "episodic"]


def test_schemas_match_mem_alpha() -> None:
    params = {t.name: t.schema["function"]["parameters"] for t in MEMORY_TOOLS}
    assert {name: sorted(p["properties"]) for name, p in params.items()} == {
        "new_memory_insert": ["content", "memory_type"],
        "memory_update": ["memory_id", "memory_type", "new_content"],
        "memory_delete": ["memory_id", "memory_type"],
        "search_memory": ["memory_type", "query", "search_method"],
    }
    assert {name: sorted(p.get("required", [])) for name, p in params.items()} == {
        "new_memory_insert": ["content", "memory_type"],
        "memory_update": ["memory_type", "new_content"],
        "memory_delete": ["memory_id", "memory_type"],
        "search_memory": ["memory_type", "query"],
    }
    assert all(p["properties"]["memory_type"]["enum"] == TYPES for p in params.values())
    assert params["search_memory"]["properties"]["search_method"]["enum"] == ["bm25", "text-embedding"]
    assert all(t.hidden == ("memory",) for t in MEMORY_TOOLS)


def run(tool, memory: MemoryBank, **arguments):
    return tool.run(arguments, {"memory": memory})


def test_insert_update_delete_search_flow() -> None:
    bank = MemoryBank(core_max_chars=40)
    bank.now = 4
    out = run(new_memory_insert, bank, memory_type="semantic", content="Paris is the capital of France")
    assert (out.ok, out.output) == (True, "inserted semantic memory s1: Paris is the capital of France")
    assert bank.semantic.get("s1").timestamp == 4
    run(new_memory_insert, bank, memory_type="episodic", content="User asked about Rome")
    assert (
        run(new_memory_insert, bank, memory_type="core", content="User: Ann").output == "core memory appended (9/40 characters)"
    )
    assert run(memory_update, bank, memory_type="core", new_content="User: Bob", memory_id="ignored").ok
    assert bank.core.text == "User: Bob"
    bank.now = 6
    out = run(memory_update, bank, memory_type="episodic", new_content="User asked about Milan", memory_id="e1")
    assert out.output == "updated episodic memory e1: User asked about Milan" and bank.episodic.get("e1").timestamp == 6
    assert run(search_memory, bank, memory_type="episodic", query="milan").output == "[e1] User asked about Milan"
    assert run(search_memory, bank, memory_type="semantic", query="tokyo").output == "no semantic memory matches 'tokyo'"
    assert run(memory_delete, bank, memory_type="semantic", memory_id="s1").output == "deleted semantic memory s1"
    assert len(bank.semantic) == 0


def test_errors_say_what_was_expected_and_what_came() -> None:
    bank = MemoryBank(core_max_chars=10)
    bank.semantic.insert("a fact", 0)
    out = run(memory_delete, bank, memory_type="semantic", memory_id="e1")
    assert (out.ok, out.error_kind) == (False, "arguments")
    assert out.output == "memory_delete: no item with id 'e1'; ids look like 's12' (latest: s1)"
    out = run(memory_update, bank, memory_type="semantic", new_content="x")
    assert (out.error_kind, out.output) == ("arguments", "memory_id is required for semantic memory, like s3; got none")
    out = run(search_memory, bank, memory_type="core", query="x")
    assert out.error_kind == "arguments" and "searches 'semantic' or 'episodic' memory, got 'core'" in out.output
    out = run(memory_delete, bank, memory_type="core", memory_id="c1")
    assert out.error_kind == "arguments" and "core memory has no items" in out.output
    out = run(new_memory_insert, bank, memory_type="core", content="x" * 11)
    assert (out.error_kind, out.output) == (
        "raised",
        "new_memory_insert: core memory holds at most 10 characters, got 11; "
        "shorten it by 1 or move details to semantic/episodic memory",
    )
    out = run(new_memory_insert, bank, memory_type="procedural", content="x")
    assert (
        out.error_kind == "arguments"
        and "memory_type: Input should be 'core', 'semantic' or 'episodic', got str \"procedural\"" in out.output
    )
    out = run(search_memory, bank, memory_type="semantic", query="fact", search_method="tfidf")
    assert out.error_kind == "arguments" and "search_method" in out.output
    out = run(new_memory_insert, bank, memory_type="semantic", content="  ")
    assert (out.error_kind, out.output) == (
        "raised",
        "new_memory_insert: content must be non-empty text, got an empty or blank string",
    )
    assert len(bank.semantic) == 1 and bank.core.text == ""


def test_memory_from_action() -> None:
    assert memory_from_action("thinking...<memory> Ann likes tea </memory> done", 100) == "Ann likes tea"
    assert memory_from_action("<memory>old</memory><memory>new</memory>", 100) == "new"
    assert memory_from_action("<memory>unclosed text", 100) == "unclosed text"
    assert memory_from_action("  whole text is the memory ", 5) == "whole"
    with pytest.raises(TypeError, match="expected the action text as a str, got dict"):
        memory_from_action({"role": "assistant"}, 10)
