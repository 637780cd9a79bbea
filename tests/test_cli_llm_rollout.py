"""``turngym rollout --policy hf|openai``: LLM policies played, recorded and replayed from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from turngym.agents.hf_policy import HFPolicy
from turngym.agents.policy_server import PolicyServer
from turngym.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), terminal_width=200)


def recorded(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_hf_policy_episodes_are_recorded_and_replay(model_dir, tmp_path):
    out = tmp_path / "episodes.jsonl"
    result = invoke(
        "rollout", "turngym/GuessNumber-v0", "--policy", "hf", "--model", str(model_dir),
        "--episodes", "3", "--num-envs", "2", "--max-new-tokens", "6", "--set", "max_turns=2", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    episodes = recorded(out)
    assert len(episodes) == 3
    assert all(e["stop_reason"] in ("answered", "max_turns", "invalid_actions") for e in episodes)
    replay = invoke("replay", str(out))
    assert replay.exit_code == 0, replay.output


def test_openai_policy_plays_against_a_served_model(model_dir, tmp_path):
    policy = HFPolicy.from_pretrained(model_dir, max_new_tokens=6)
    server = PolicyServer(policy, "tiny")
    server.start()
    try:
        out = tmp_path / "episodes.jsonl"
        result = invoke(
            "rollout", "turngym/GuessNumber-v0", "--policy", "openai", "--model", "tiny", "--base-url", server.url,
            "--episodes", "2", "--max-new-tokens", "6", "--set", "max_turns=2", "--out", str(out),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert len(recorded(out)) == 2
    finally:
        server.stop()


def test_openai_policy_with_a_tokenizer_plays_token_in_token_out(model_dir, tmp_path):
    from turngym.agents.openai_token_policy import OpenAITokenPolicy
    from turngym.cli.policies import make_policy

    server = PolicyServer(HFPolicy.from_pretrained(model_dir, max_new_tokens=6), "tiny")
    server.start()
    try:
        with make_policy("openai", "", model="tiny", base_url=server.url, tokenizer=str(model_dir)) as policy:
            assert isinstance(policy, OpenAITokenPolicy) and policy.completions_url == f"{server.url}/v1/completions"
        before = server.app.state.batcher.requests
        out = tmp_path / "episodes.jsonl"
        result = invoke(
            "rollout", "turngym/GuessNumber-v0", "--policy", "openai", "--model", "tiny", "--base-url", server.url,
            "--tokenizer", str(model_dir), "--episodes", "2", "--max-new-tokens", "6", "--set", "max_turns=2",
            "--out", str(out),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        episodes = recorded(out)
        assert len(episodes) == 2 and server.app.state.batcher.requests - before == sum(e["turns"] for e in episodes)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "hf"], "needs --model"),
        (["--policy", "hf", "--model", "/nonexistent/folder"], "expected a local model directory"),
        (["--policy", "openai", "--model", "tiny"], "needs --base-url"),
        (["--policy", "openai", "--model", "tiny", "--base-url", "ftp://x"], "http(s) URL"),
        (["--policy", "smart"], "scripted, random, hf or openai"),
        (["--policy", "hf", "--model", "m", "--tokenizer", "t"], "--tokenizer applies to --policy openai"),
        (
            ["--policy", "openai", "--model", "tiny", "--base-url", "http://127.0.0.1:9", "--tokenizer", "/nonexistent"],
            "expected tokenizer a local folder",
        ),
    ],
)
def test_llm_policy_options_are_checked(args, message):
    result = invoke("rollout", "turngym/GuessNumber-v0", *args, "--episodes", "1")
    assert result.exit_code != 0
    assert message in " ".join(result.output.replace("│", " ").split())  # the error panel wraps lines
