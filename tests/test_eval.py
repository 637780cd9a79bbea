"""``turngym eval``: suites, the runner's records and resume, the report's numbers, compare, and the command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import crash_env  # registers tests/Crash-v0
import numpy as np
import pytest
import yaml
from env_params import is_gui
from typer.testing import CliRunner

import turngym
from turngym.agents import OraclePolicy, RandomPolicy, ScriptedPolicy
from turngym.cli import app
from turngym.evaluation.report import build_report, compare_records, write_report
from turngym.evaluation.runner import EvalFolderError, read_records, read_run, run_eval
from turngym.evaluation.stats import pass_at_k, pass_hat_k
from turngym.evaluation.suite import EVAL_SEED_BASE, SuiteError, env_suite, load_suite, parse_suite, shipped_suites

runner = CliRunner()


def test_shipped_suites_cover_every_registered_env_with_held_out_seeds():
    assert {"basic", "tools", "search", "all"} <= set(shipped_suites())
    everything = load_suite("all")
    turngym_ids = {i for i in turngym.registered_ids() if i.startswith("turngym/")}
    assert {t.env for t in everything.tasks} == turngym_ids
    for name in shipped_suites():
        for task in load_suite(name).tasks:
            assert min(task.seeds) >= EVAL_SEED_BASE
            if "split" in task.kwargs:
                assert task.kwargs["split"] == "test"
    assert all(len(t.seeds) == 2 for t in load_suite("all", seeds=2).tasks)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tasks": []}, "non-empty 'tasks'"),
        ({"tasks": [{"seeds": 3}]}, "an 'env' ID"),
        ({"tasks": [{"env": "turngym/Echo-v0", "seed": 3}]}, "unknown keys \\['seed'\\]"),
        ({"tasks": [{"env": "turngym/Echo-v0", "seeds": 0}]}, "'seeds' must be"),
        ({"tasks": [{"env": "turngym/Echo-v0", "seeds": [1, 1]}]}, "seeds repeat"),
        ({"tasks": [{"env": "turngym/Echo-v0", "kwargs": [1]}]}, "'kwargs' must be a mapping"),
        ({"tasks": [{"env": "turngym/Echo-v0"}, {"env": "turngym/Echo-v0"}]}, "give a 'label'"),
    ],
)
def test_bad_suites_say_what_was_expected(data, message):
    with pytest.raises(SuiteError, match=message):
        parse_suite(data)


def test_suite_file_seeds_forms(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "tasks:\n  - {env: turngym/Echo-v0, seeds: [5, 9]}\n  - {env: turngym/Echo-v0, label: b, seeds: {start: 3, count: 2}}\n"
    )
    suite = load_suite(str(path))
    assert suite.name == "mine" and [t.seeds for t in suite.tasks] == [(5, 9), (3, 4)] and suite.tasks[1].name == "b"
    with pytest.raises(SuiteError, match="no such file"):
        load_suite(str(tmp_path / "missing.yaml"))


def test_records_and_report_of_a_sampling_policy(tmp_path):
    suite = env_suite(["turngym/GuessNumber-v0"], seeds=12, kwargs={"high": 3, "max_turns": 1})
    rng = np.random.default_rng(0)
    policy = ScriptedPolicy(lambda conversation: f"<guess>{rng.integers(1, 4)}</guess>")  # one blind guess: wins 1 in 3
    records = run_eval(suite, policy, tmp_path, policy_name="random", n=4, num_envs=3)
    assert len(records) == 48 and read_records(tmp_path) == records
    assert sorted((r["seed"], r["sample"]) for r in records) == [(s, j) for s in suite.tasks[0].seeds for j in range(4)]
    report = build_report(records, read_run(tmp_path))
    # the report's numbers are the formulas applied to the records, averaged over tasks
    by_seed = {s: [r["outcome"] > 0 for r in records if r["seed"] == s] for s in suite.tasks[0].seeds}
    assert 0 < report["success"]["mean"] < 1, "the random policy should win some and lose some"
    for k in (1, 2, 4):
        expected = sum(pass_at_k(4, sum(w), k) for w in by_seed.values()) / 12
        assert report["pass@k"][str(k)]["mean"] == pytest.approx(expected)
        expected_hat = sum(pass_hat_k(4, sum(w), k) for w in by_seed.values()) / 12
        assert report["pass^k"][str(k)]["mean"] == pytest.approx(expected_hat)
    at = [report["pass@k"][str(k)]["mean"] for k in range(1, 5)]
    hat = [report["pass^k"][str(k)]["mean"] for k in range(1, 5)]
    assert at == sorted(at) and hat == sorted(hat, reverse=True) and at[0] == pytest.approx(hat[0])
    assert report["mean_reward"]["mean"] == pytest.approx(sum(r["reward"] for r in records) / 48)
    assert report["by_task"]["turngym/GuessNumber-v0"]["episodes"] == 48
    assert sum(report["stop_reasons"].values()) == 48
    paths = write_report(report, tmp_path)
    assert {p.name for p in paths} == {"report.json", "report.md", "pass_at_k.png", "by_task.png"}
    assert (tmp_path / "pass_at_k.png").read_bytes()[:4] == b"\x89PNG"
    assert "| pass^4 |" in (tmp_path / "report.md").read_text()


def test_a_folder_holding_another_run_is_refused(tmp_path):
    suite = env_suite(["turngym/Echo-v0"], seeds=2)
    run_eval(suite, OraclePolicy(), tmp_path, policy_name="scripted", n=1)
    assert len(run_eval(suite, OraclePolicy(), tmp_path, policy_name="scripted", n=1)) == 2  # nothing left to play
    with pytest.raises(EvalFolderError, match="another n"):
        run_eval(suite, OraclePolicy(), tmp_path, policy_name="scripted", n=2)
    with pytest.raises(EvalFolderError, match="expected an eval folder"):
        read_run(tmp_path / "nowhere")


def test_broken_episodes_are_counted_and_left_out_of_the_scores(tmp_path):
    suite = env_suite([crash_env.ENV_ID], seeds=6)
    seeds = suite.tasks[0].seeds

    class HalfBroken(OraclePolicy):
        """The oracle, except that tasks with an odd answer make the env raise (stop_reason "error")."""

        def act_envs(self, vec, indices):
            actions = super().act_envs(vec, indices)
            return {
                i: "RAISE" if int(a.removeprefix("<answer>").removesuffix("</answer>")) % 2 else a for i, a in actions.items()
            }

    records = run_eval(suite, HalfBroken(), tmp_path, policy_name="half", n=1, num_envs=2)
    errors = [r for r in records if r["stop_reason"] == "error"]
    assert 0 < len(errors) < len(seeds) and all("told to raise" in r["error"] for r in errors)
    report = build_report(records, read_run(tmp_path))
    assert report["errors"] == len(errors) and report["episodes"] == len(seeds) - len(errors)
    assert report["success"]["mean"] == 1.0  # the scored episodes are the oracle's
    with pytest.raises(ValueError, match="at least one episode that did not end in an error"):
        build_report(errors, read_run(tmp_path))


def test_compare_pairs_tasks_and_says_when_a_difference_is_significant(tmp_path):
    suite = env_suite(["turngym/GuessNumber-v0"], seeds=30, kwargs={"high": 16})
    oracle = run_eval(suite, OraclePolicy(), tmp_path / "a", policy_name="scripted")
    rand = run_eval(suite, RandomPolicy.for_env("turngym/GuessNumber-v0", seed=0, high=16), tmp_path / "b", policy_name="random")
    result = compare_records(rand, oracle)
    assert result["tasks"] == 30 and result["success"]["significant"] and result["success"]["difference"]["low"] > 0.5
    assert not compare_records(oracle, oracle)["success"]["significant"]
    other = run_eval(env_suite(["turngym/Echo-v0"], seeds=2), OraclePolicy(), tmp_path / "c", policy_name="scripted")
    with pytest.raises(ValueError, match="none in common"):
        compare_records(oracle, other)
    out = runner.invoke(app, ["eval", "compare", str(tmp_path / "b"), str(tmp_path / "a"), "--out", str(tmp_path / "cmp.json")])
    assert out.exit_code == 0, out.output
    assert "| success |" in out.output and "| yes |" in out.output
    assert json.loads((tmp_path / "cmp.json").read_text())["success"]["significant"] is True


def test_the_eval_command_writes_the_report(tmp_path):
    out = runner.invoke(app, ["eval", "--env", "turngym/Echo-v0", "--seeds", "3", "-n", "2", "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["tasks"] == 3 and report["episodes"] == 6 and report["success"]["mean"] == 1.0
    assert "pass@2" in out.output and "report.md" in out.output
    bad = runner.invoke(app, ["eval", "--suite", "basic", "--env", "turngym/Echo-v0"])
    assert bad.exit_code == 2 and "either --suite" in bad.output


def _report_without_timing(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text())
    for key in ("wall_s", "sessions"):
        report.pop(key)
    return report


@pytest.mark.slow
def test_an_eval_killed_with_sigkill_resumes_to_the_report_of_an_uninterrupted_run(tmp_path):
    # every family of the shipped "all" suite but the browser ones (their own tests cover them)
    tasks = [t for t in load_suite("all", seeds=3).tasks if not is_gui(t.env)]
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(yaml.safe_dump({"name": "all-but-gui", "tasks": [t.as_dict() for t in tasks]}))
    command = [sys.executable, "-m", "turngym", "eval", "--suite", str(suite_file), "-n", "2", "--num-envs", "1"]
    whole = subprocess.run([*command, "--out", str(tmp_path / "whole")], capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    total = len(read_records(tmp_path / "whole"))
    assert total == len(tasks) * 3 * 2

    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([*command, "--out", str(killed_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    episodes = killed_dir / "episodes.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (episodes.exists() and episodes.stat().st_size > 0):
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(read_records(killed_dir))
    assert 0 < done_before < total, f"the kill should land mid-run, {done_before} of {total} episodes were done"

    resumed = subprocess.run([*command, "--out", str(killed_dir)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    records = read_records(killed_dir)
    keys = [(r["task"], r["seed"], r["sample"]) for r in records]
    assert len(keys) == total and len(set(keys)) == total
    report = json.loads((killed_dir / "report.json").read_text())
    assert report["sessions"] == 2
    assert _report_without_timing(killed_dir) == _report_without_timing(tmp_path / "whole")


def test_an_hf_model_folder_is_evaluated_with_seeded_sampling(model_dir, tmp_path):
    args = ["eval", "--env", "turngym/GuessNumber-v0", "--set", "max_turns=2", "--seeds", "3", "-n", "2"]
    args += ["--policy", "hf", "--model", str(model_dir), "--max-new-tokens", "6", "--num-envs", "4"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert second.exit_code == 0, second.output
    a, b = read_records(tmp_path / "a"), read_records(tmp_path / "b")
    assert len(a) == 6 and all(r["policy_tokens"] > 0 for r in a)
    assert [(r["seed"], r["messages"], r["reward"]) for r in a] == [(r["seed"], r["messages"], r["reward"]) for r in b]
    assert read_run(tmp_path / "a")["policy"] == f"hf:{model_dir}"


def test_an_openai_compatible_endpoint_is_evaluated(model_dir, tmp_path):
    from turngym.agents.hf_policy import HFPolicy
    from turngym.agents.policy_server import PolicyServer

    server = PolicyServer(HFPolicy.from_pretrained(model_dir, max_new_tokens=6), "tiny")
    server.start()
    try:
        args = ["eval", "--env", "turngym/GuessNumber-v0", "--set", "max_turns=2", "--seeds", "2", "-n", "2"]
        args += [
            "--policy",
            "openai",
            "--model",
            "tiny",
            "--base-url",
            server.url,
            "--max-new-tokens",
            "6",
            "--out",
            str(tmp_path),
        ]
        result = runner.invoke(app, args)
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["policy"] == "openai:tiny" and report["episodes"] + report["errors"] == 4 and "2" in report["pass@k"]
