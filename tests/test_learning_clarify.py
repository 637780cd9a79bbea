"""The learning proof on a dialogue env: a tiny model, cold-started by SFT, learns to ask before answering on
turngym/Clarify-v0 with GRPO.

The env is baselines/configs/clarify_sft.yaml's: the logic family of the train split ("Zoe is faster than Omar. Omar
is faster than Iris. Uma is also in the group. Who is the fastest of the four?"), two turns. The model is a random
tiny Llama (hidden 128) with a word vocabulary that covers the family.

1. A mixed oracle plays 512 episodes, recorded to JSONL: it asks about the newcomer ("What about Uma?", a shorter
   form of the env oracle's question that the user answers the same way) and then answers as the env's oracle does;
   in GUESS_SHARE of the episodes it answers at once with one of the two names instead (right half the time).
   SFT on them (clarify_sft.yaml) gives a start that mostly guesses.
2. From that model, GRPO (clarify_grpo.yaml): asking first and answering right earns 1.0, a guess 0.45 on average.
3. Held-out greedy success (seeds no training step draws) must rise by at least MIN_GAIN, and the trained policy must
   ask before answering on most held-out episodes.

Held-out seeds, not the test split: the test split's people are names the train split never shows, and its two
comparisons ("slowest", "heaviest") are words the train split never asks about; a word-level model copies only
names it has trained on, so it cannot answer those.

Not reached yet (hence the strict xfail; measured on 2 shared cores): the cold start learns the format and when to
ask, but not to copy the right name, neither into the question nor into the answer: its SFT loss levels off near 0.5
per token and it answers with one frequent name. Held-out greedy success: 0.04 after SFT (150 steps, hidden 64,
the env's long question, asking first 0.00) and 0.016 after 60 GRPO steps; 0.04 after 600 steps (asking first 0.59);
0.04 after 800 steps at hidden 128 with the short question "What about Uma?" (asking first 0.00); 0.00 with guess
share 0.5 and lr 1e-2 (asking first 1.00). With the committed configs the whole test (170 s) measured 0.039 after SFT and
0.016 after GRPO, asking first 0.00 before and after. GRPO has nothing to reinforce while no answer is right. What is left to
try: a longer SFT or a larger model until the names are copied, then GRPO.
"""

from __future__ import annotations

import dataclasses
import re
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
from turngym.envs.vector import make_vec

CONFIGS = Path(__file__).resolve().parents[1] / "baselines" / "configs"
SFT_CONFIG, GRPO_CONFIG = CONFIGS / "clarify_sft.yaml", CONFIGS / "clarify_grpo.yaml"
MIXED_EPISODES = 512
GUESS_SHARE = 0.7
MIN_GAIN = 0.3
UNMET = (
    "not reached yet: the tiny word model learns when to ask but not to copy the names (held-out success 0.04 after "
    "SFT, about 0 after GRPO); see the module docstring"
)
NAMES_ASKED = re.compile(r"between (\w+) and (\w+)")  # the oracle's question: the newcomer, then the one it is compared with


class GuessingOracle:
    """The env's oracle, except that in ``share`` of the episodes it answers at once with a name its question
    would have named (one of the two names the answer can be)."""

    def __init__(self, share: float, seed: int = 0):
        self.share, self.rng = share, np.random.default_rng(seed)

    def act_envs(self, vec, indices):
        actions = vec.call("oracle_action", indices=list(indices))
        for i, action in actions.items():
            names = NAMES_ASKED.search(action)
            if not (action.startswith("<ask>") and names):
                continue
            if self.rng.random() < self.share:
                actions[i] = f"<answer>{names[1 + int(self.rng.integers(2))]}</answer>"
            else:
                actions[i] = f"<ask>What about {names[1]}?</ask>"
        return actions


def record_mixture(config: TrainConfig, path: Path, episodes: int) -> None:
    with make_vec(config.env_id, 8, record_to=str(path), **env_kwargs(config)) as vec:
        play_episodes(vec, GuessingOracle(GUESS_SHARE), episodes)


def held_out(config: TrainConfig, model: Path | None, split: str = "train") -> tuple[float, float]:
    """Greedy success on the held-out seeds, and the share of those episodes whose first action is an ``<ask>``."""
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


def test_clarify_vocabulary_covers_the_logic_family():
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
@pytest.mark.xfail(strict=True, reason=UNMET)
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
    start, start_asks = held_out(config, None)
    assert start_asks < 0.5, f"the SFT start should mostly guess, but asked first on {start_asks:.2f} of held-out episodes"

    train_grpo(config, resume=False)
    records = read_metrics(out / "metrics.jsonl")
    assert len(records) == config.steps and all(r["rollout/errors"] == 0 for r in records)
    after, asks = held_out(config, out / "final_model")
    print(f"held-out success {start:.3f} -> {after:.3f}, asked first {start_asks:.2f} -> {asks:.2f}")
    assert after - start >= MIN_GAIN, f"held-out success {start:.3f} after SFT, {after:.3f} after GRPO"
    assert asks > 0.5, f"the trained policy asked first on only {asks:.2f} of held-out episodes"
