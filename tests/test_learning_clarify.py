"""The learning proof on a dialogue env: a tiny model, cold-started by SFT, learns to ask before answering on
turngym/Clarify-v0 with GRPO.

The env is baselines/configs/clarify_sft.yaml's: the booking family of the train split ("Please book a taxi for Mia
this afternoon. I have not told you the hour. Which hour do you book?"; the user's reply "Book it for 3." puts the
value right before the agent's turn, and the answer is that value: one of 7 weekdays or 8 hours), two turns. The
model is a random tiny Llama (hidden 64) with a word vocabulary that covers the family, both splits.

1. A mixed oracle plays 512 episodes, recorded to JSONL: the env's oracle ("What is the day?", then the value told),
   except that in GUESS_SHARE (0.7) of the episodes it answers at once with a fixed guess, the first candidate.
   SFT on them (clarify_sft.yaml, 800 steps) gives a start that always guesses (greedy).
2. From that model, GRPO (clarify_grpo.yaml, 60 steps): asking first and answering right earns about 1.18, a guess
   about 0.08 on average.
3. Greedy success on the held-out seeds must rise by at least MIN_GAIN on the test split (templates and names
   that training never shows; their words are in the vocabulary, untrained) and on the train split's unseen
   seeds, and the trained policy must ask first on most of those episodes.

Measured on 2 shared cores (the whole file 92 s of wall time, GRPO 49 s of it): held-out success 0.19 -> 0.78 on the
test split (asking first 0.00 -> 0.73) and 0.19 -> 0.95 on the train split's seeds (asking first 0.00 -> 1.00);
rollout success rose from 0.40 to about 0.95 by step 5. Settings that did not make it: a uniformly drawn guess
instead of the fixed one (the cold start then does not copy the told value; 300 SFT steps: no gain; 800 steps with
guess share 0.6: +0.36 on train seeds, +0.19 on the test split, asking first 0.48 there); hidden 128 (no gain);
guess share 0.6 with the fixed guess (+0.76 on train seeds but +0.29 on the test split); max_new_tokens 12 (cuts
"<ask>What is the hour?</ask>" before its end). An earlier attempt on the logic family, whose answer is a name at a
varying position, never learned to copy the name (held-out success 0.04 after SFT, about 0 after GRPO).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from learning_helpers import HELD_OUT

from turngym.agents.tiny_lm import tiny_tokenizer
from turngym.baselines.config import TrainConfig, load_config
from turngym.baselines.grpo import train_grpo
from turngym.baselines.metrics import read_metrics
from turngym.baselines.run import build_policy, env_kwargs, make_vec_env
from turngym.baselines.sft import train_sft
from turngym.engine import Engine, play_episodes
from turngym.envs.dialogue.clarify_tasks import CLOCK, DAYS
from turngym.envs.vector import make_vec

CONFIGS = Path(__file__).resolve().parents[1] / "baselines" / "configs"
SFT_CONFIG, GRPO_CONFIG = CONFIGS / "clarify_sft.yaml", CONFIGS / "clarify_grpo.yaml"
MIXED_EPISODES = 512
GUESS_SHARE = 0.7
MIN_GAIN = 0.3
CANDIDATES = {"<ask>What is the day?</ask>": DAYS, "<ask>What is the hour?</ask>": CLOCK}  # the oracle's questions


class GuessingOracle:
    """The env's oracle, except that in ``share`` of the episodes it answers at once with a fixed guess, the
    first candidate ("Monday", "1"): right 1/7 or 1/8 of the time, and nothing to learn but "guess" itself."""

    def __init__(self, share: float, seed: int = 0):
        self.share, self.rng = share, np.random.default_rng(seed)

    def act_envs(self, vec, indices):
        actions = vec.call("oracle_action", indices=list(indices))
        for i, action in actions.items():
            if action in CANDIDATES and self.rng.random() < self.share:
                actions[i] = f"<answer>{CANDIDATES[action][0]}</answer>"
        return actions


def record_mixture(config: TrainConfig, path: Path, episodes: int) -> None:
    with make_vec(config.env_id, 8, record_to=str(path), **env_kwargs(config)) as vec:
        play_episodes(vec, GuessingOracle(GUESS_SHARE), episodes)


def held_out(config: TrainConfig, model: Path | None, split: str) -> tuple[float, float]:
    """Greedy success on ``split`` at the held-out seeds, and the share of those episodes whose first action is
    an ``<ask>``."""
    config = dataclasses.replace(config, env_kwargs={**config.env_kwargs, "split": split})
    if model is not None:
        config = dataclasses.replace(config, model=str(model))
    with make_vec_env(config, 64) as vec:
        engine = Engine(vec, build_policy(config), stop=config.stop or None, max_turns=config.max_turns)
        episodes = engine.play(HELD_OUT, temperature=0.0, generator=torch.Generator().manual_seed(1))
    asked = [first_action(e).lstrip().startswith("<ask>") for e in episodes]
    return sum(e.success for e in episodes) / len(episodes), sum(asked) / len(asked)


def first_action(episode) -> str:
    return next((m.get("content") or "") for m in episode.trajectory.messages if m.get("role") == "assistant")


def test_clarify_vocabulary_covers_the_booking_family():
    import turngym

    raw = yaml.safe_load(SFT_CONFIG.read_text())
    tokenizer = tiny_tokenizer("words", raw["tiny_words"])
    texts = []
    for split in ("train", "test"):
        env = turngym.make(raw["env_id"], **{**raw["env_kwargs"], "split": split}, max_turns=raw["max_turns"])
        for seed in range(50):
            obs, _ = env.reset(seed=seed)
            texts += [m["content"] for m in obs]
            while (action := env.unwrapped.oracle_action()) and not texts.append(action):
                obs, _, terminated, truncated, _ = env.step(action)
                texts += [m["content"] for m in obs]
                if terminated or truncated:
                    break
    unknown = [t for t in texts if tokenizer.unk_token_id in tokenizer.encode(t)]
    assert not unknown, f"{len(unknown)} texts have words outside tiny_words, e.g. {unknown[:3]}"


@pytest.mark.slow
def test_sft_then_grpo_learns_to_ask_before_answering_on_clarify(tmp_path):
    data = tmp_path / "mixture.jsonl"
    data.touch()  # the SFT config checks that its data file exists; the episodes are recorded into it below
    sft = load_config(SFT_CONFIG, [f"out_dir={tmp_path / 'sft'}", f"data={data}", "eval_every=0", "tensorboard=false"])
    record_mixture(sft, data, MIXED_EPISODES)
    train_sft(sft, resume=False)
    cold = tmp_path / "sft" / "final_model"
    out = tmp_path / "grpo"
    overrides = [f"model={cold}", f"out_dir={out}", "eval_every=0", "checkpoint_every=0", "tensorboard=false"]
    config = load_config(GRPO_CONFIG, overrides)
    assert (config.env_id, config.env_kwargs, config.max_turns) == (sft.env_id, sft.env_kwargs, sft.max_turns)
    start = {split: held_out(config, None, split) for split in ("test", "train")}
    assert start["test"][1] < 0.5, f"the SFT start should mostly guess, but asked first on {start['test'][1]:.2f}"

    began = time.perf_counter()
    train_grpo(config, resume=False)
    records = read_metrics(out / "metrics.jsonl")
    assert len(records) == config.steps and all(r["rollout/errors"] == 0 for r in records)
    after = {split: held_out(config, out / "final_model", split) for split in ("test", "train")}
    print(f"GRPO {time.perf_counter() - began:.0f} s; (success, asked first) after SFT {start}, after GRPO {after}")
    for split in ("test", "train"):  # the test split: unseen templates and names; train: unseen seeds
        (before, _), (success, asks) = start[split], after[split]
        assert success - before >= MIN_GAIN, f"{split}: held-out success {before:.3f} after SFT, {success:.3f} after GRPO"
        assert asks > 0.5, f"{split}: the trained policy asked first on only {asks:.2f} of held-out episodes"
