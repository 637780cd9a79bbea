"""The turngym command line, run in process with typer's runner (and once as a real process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

import turngym.cli.commands as cli_app
from turngym.baselines.metrics import read_metrics
from turngym.cli import app
from turngym.cli.commands import parse_sets

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(cli_app, "console", Console(width=200))


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input, terminal_width=200)


def test_list_prints_every_id_with_its_card():
    result = run("list")
    assert result.exit_code == 0
    assert "turngym/ToolCalc-v0" in result.output and "Multi-step arithmetic" in result.output
    assert "turngym/GuessNumber-v0" in result.output


def test_card_prints_the_env_card():
    result = run("card", "turngym/GuessNumber-v0")
    assert result.exit_code == 0 and "Episode End:" in result.output


def test_unknown_id_suggests_close_matches():
    result = run("check", "turngym/ToolCal-v0")
    assert result.exit_code != 0 and "did you mean" in result.output


def test_demo_plays_every_env_with_oracle_and_random_then_trains(tmp_path):
    envs = ["--env", "turngym/ToolCalc-v0", "--env", "turngym/GuessNumber-v0"]
    result = run("demo", "--episodes", "2", *envs, "--train-seconds", "2", "--out-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    played = result.output.split("training a tiny")[0]
    assert played.count("oracle") == 2 and played.count("random") == 2
    assert "100%" in played and "answered" in played
    evals = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "eval/success" in r]
    assert evals and f"{evals[-1]['eval/success']:.2f}" in result.output  # the learning table
    assert (tmp_path / "learning_curve.png").is_file() and "learning curve:" in result.output


def test_rollout_records_and_replay_matches(tmp_path):
    out = tmp_path / "episodes.jsonl"
    result = run("rollout", "turngym/ToolCalc-v0", "--episodes", "5", "--out", str(out), "--set", "difficulty=3")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5 and all(r["stop_reason"] == "answered" and r["turns"] == 4 for r in records)
    assert records[0]["env_kwargs"]["difficulty"] == 3
    result = run("replay", str(out))
    assert result.exit_code == 0 and "5/5 episodes replayed with matching rewards" in result.output

    records[2]["steps"][-1]["reward"] = 0.5
    out.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run("replay", str(out))
    assert result.exit_code == 1 and "4/5" in result.output and "reward 1.0 != recorded 0.5" in result.output


def test_random_rollout_in_process_mode(tmp_path):
    out = tmp_path / "random.jsonl"
    result = run(
        "rollout",
        "turngym/GuessNumber-v0",
        "--policy",
        "random",
        "--episodes",
        "4",
        "--mode",
        "process",
        "--num-envs",
        "2",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 4
    assert run("replay", str(out)).exit_code == 0


def test_check_passes_for_a_builtin_env():
    result = run("check", "turngym/GuessNumber-v0", "--fuzz", "100")
    assert result.exit_code == 0 and result.output.count("│ pass ") == 5


def test_play_lets_a_person_be_the_agent():
    result = run(
        "play",
        "turngym/GuessNumber-v0",
        "--seed",
        "0",
        "--set",
        "high=4",
        input=":hint\n<guess>2</guess>\n<guess>3</guess>\n<guess>1</guess>\n<guess>4</guess>\n",
    )
    assert result.exit_code == 0, result.output
    assert 'oracle: "<guess>2</guess>"' in result.output
    assert "episode over: answered" in result.output


def test_bad_set_value_is_a_usage_error():
    result = run("rollout", "turngym/GuessNumber-v0", "--set", "high")
    assert result.exit_code != 0 and "expected key=value" in result.output


def test_parse_sets_reads_yaml_values():
    assert parse_sets(["a=3", "b=tags", "c=[1, 2]", "d=true"]) == {"a": 3, "b": "tags", "c": [1, 2], "d": True}


def test_console_script_and_module_entry_points_run():
    for cmd in (["turngym", "list"], [sys.executable, "-m", "turngym", "list"]):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        assert "turngym/ToolCalc-v0" in out


def test_demo_reports_an_env_without_an_oracle_instead_of_failing():
    from turngym.envs import AgentEnv, Task

    class Plain(AgentEnv):
        """No oracle here."""

        def _make_task(self, options):
            return Task(id="t", prompt="Say a.", answer="a")

    import turngym

    turngym.register("tests/PlainForDemo-v0", entry_point=Plain)
    result = run("demo", "--episodes", "2", "--env", "tests/PlainForDemo-v0", "--train-seconds", "0")
    assert result.exit_code == 0, result.output
    assert "the env has no oracle" in result.output and "random" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "nosuch=1"], "turngym/GuessNumber-v0: unexpected keyword argument 'nosuch'"),
        (["--set", "high=banana", "--mode", "process"], "turngym/GuessNumber-v0: high must be an int >= 2, got 'banana'"),
    ],
)
def test_a_bad_env_argument_is_one_line(args, message, monkeypatch, capsys):
    from turngym.cli import main

    monkeypatch.setattr("sys.argv", ["turngym", "rollout", "turngym/GuessNumber-v0", "--episodes", "1", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith(f"error: {message}") and len(err.strip().splitlines()) == 1
