"""SFT on episodes recorded with `turngym rollout --policy scripted`: assistant tokens only, loss goes down."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from turngym.agents.tiny_lm import tiny_tokenizer
from turngym.baselines.config import load_config
from turngym.baselines.metrics import read_metrics
from turngym.baselines.sft import batch_indices, conversation_tokens, load_conversations, train_sft
from turngym.cli import app
from turngym.envs.echo import ECHO_WORDS

WORDS = f"tiny_words=[{', '.join([*ECHO_WORDS, 'echo'])}]"


def _record(path, episodes: int):
    args = ["rollout", "turngym/Echo-v0", "--policy", "scripted", "--episodes", str(episodes), "--out", str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def oracle_episodes(tmp_path_factory):
    return _record(tmp_path_factory.mktemp("sft") / "oracle.jsonl", 12)


def test_only_assistant_text_and_its_end_of_turn_are_targets(oracle_episodes):
    tokenizer = tiny_tokenizer("words", [*ECHO_WORDS, "echo"])
    conversations = load_conversations(str(oracle_episodes))
    assert len(conversations) == 12
    for messages in conversations:
        traj = conversation_tokens(tokenizer, messages)
        targets = tokenizer.decode([t for t, m in zip(traj.token_ids, traj.mask, strict=True) if m])
        word = messages[1]["content"].split()[-1]
        assert targets == f"<answer>{word}</answer><|im_end|>\n"
        prompt = tokenizer.decode([t for t, m in zip(traj.token_ids, traj.mask, strict=True) if not m])
        assert prompt.endswith(f"echo {word}<|im_end|>\n<|im_start|>assistant\n")


def test_failed_episodes_are_left_out(tmp_path):
    path = tmp_path / "random.jsonl"
    CliRunner().invoke(app, ["rollout", "turngym/GuessNumber-v0", "--policy", "random", "--episodes", "2", "--out", str(path)])
    with pytest.raises(ValueError, match="expected successful episodes"):
        load_conversations(str(path))
    assert len(load_conversations(str(path), only_successful=False)) == 2


def test_batches_cover_each_epoch_once():
    seen = [i for step in (1, 2, 3) for i in batch_indices(12, 4, step, seed=0)]
    assert sorted(seen) == list(range(12))
    assert sorted(i for step in (4, 5, 6) for i in batch_indices(12, 4, step, seed=0)) == list(range(12))
    assert batch_indices(3, 8, 1, seed=0) and len(batch_indices(3, 8, 1, seed=0)) == 3


@pytest.mark.slow
def test_sft_lowers_the_loss_and_solves_echo(tmp_path):
    data = _record(tmp_path / "oracle.jsonl", 128)
    overrides = [WORDS, f"data={data}", f"out_dir={tmp_path / 'run'}", "steps=150", "lr=3e-3", "batch_size=32", "eval_every=50"]
    config = load_config(None, [*overrides, "eval_episodes=32", "max_new_tokens=4", "tensorboard=false", "threads=1"], algo="sft")
    last = train_sft(config)
    losses = [r["loss/sft"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    assert losses[-1] < losses[0] / 10
    assert last["eval/success"] >= 0.9
