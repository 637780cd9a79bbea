"""bench/rollout.py --quick: both loops play the same successful episodes, and it ends with the two ratio lines."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "rollout.py"


@pytest.fixture(scope="module")
def rollout():
    spec = importlib.util.spec_from_file_location("bench_rollout", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    sys.path.insert(0, str(BENCH.parent))  # its sibling retrieval_server, as when run as a script
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH.parent))
    return module


def test_hops_argument(rollout):
    assert rollout.parse_hops("all") is None
    assert rollout.parse_hops("2") == 2
    assert rollout.parse_hops("1-3") == (1, 3)


@pytest.mark.slow
def test_quick_run_prints_a_table_and_the_http_ratio_last(rollout, capsys):
    rollout.main(["--quick", "--server", "thread"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert "episodes succeeded; each seed's episode was the same in every loop" in "\n".join(lines)
    rows = [line.split() for line in lines if line.split()[:2] in (["in-process", "engine"], ["HTTP", "baseline"])]
    assert len(rows) == 2 and all(row[2] == "64" for row in rows)
    assert re.fullmatch(r"ratio engine/baseline episodes/s, in-process retrieval: \d+\.\d\dx", lines[-2])
    assert re.fullmatch(r"ratio engine/baseline episodes/s, HTTP retrieval: \d+\.\d\dx \(goal >= 5x\)", lines[-1])
