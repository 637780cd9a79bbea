"""bench/gui.py: the tree parser its policy clicks with, and a quick turngym-only run that ends with the ratio line."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "gui.py"


@pytest.fixture(scope="module")
def gui():
    spec = importlib.util.spec_from_file_location("bench_gui", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_tree_targets_are_the_clickable_elements(gui):
    tree = "\n".join(
        ["# Page: Click Test Task", "[1] RootWebArea", "\t[4] paragraph", "\t\t[5] button 'ONE'", "\t[7] checkbox 'a', checked"]
        + ["\t[9] StaticText 'x'", "\t[10] textbox 'Name' (the value)"]
    )
    assert gui.tree_targets(tree) == ["5", "7", "10"]
    assert gui.tree_targets("Last action failed: no element\n\n# Page") == []


def test_a_missing_peer_is_reported_not_raised(gui, tmp_path):
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named browsergym' >&2\nexit 1\n")
    python.chmod(0o755)
    message = gui.peer_missing("browsergym", str(python))
    assert message.startswith("peer browsergym not installed") and message.endswith("No module named browsergym)")
    assert gui.peer_missing("browsergym", str(tmp_path / "nothing")).startswith("peer browsergym not installed: skipped")


@pytest.mark.slow
@pytest.mark.browser
def test_quick_turngym_run_meets_nothing_silently_and_prints_the_ratio_line_last(gui, capsys):
    results = gui.main(["--quick", "--only", "turngym,browsergym", "--browsergym-python", "/nonexistent/python3", "--envs", "4"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert set(results) == {"turngym"}
    row = results["turngym"]
    assert set(row["tasks"]) == set(gui.TASKS)
    assert all(len(t["reset"]) == 3 and len(t["step"]) == 5 for t in row["tasks"].values())
    assert row["steps_per_s"] > 0
    assert any(line.startswith("peer browsergym not installed") for line in lines)
    assert re.fullmatch(r"turngym goals: reset p50 [\d,]+ ms \(goal <= 100\), step p50 [\d,]+ ms \(goal <= 20\)", lines[-2])
    assert lines[-1] == "ratio turngym/browsergym steps/s at 4 envs: n/a (needs turngym and browsergym) (goal >= 20)"
