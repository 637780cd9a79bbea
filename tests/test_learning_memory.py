"""The learning proof on a memory env: a tiny model, cold-started by SFT, learns more of turngym/MemoryQA-v0 with RL.

The env is baselines/configs/memory_sft.yaml's: a 128-word stream of the generated encyclopedia in 2 chunks of 64
words hides one fact; each chunk is a new context whose system prompt shows the memory the model wrote after the
last one, and the action is the whole new memory, ``<memory>...</memory>``; the question then gets a context of its
own and ``<answer>...</answer>`` must come from memory. Invented names come from a fixed pool of 12 words
(``names=12``), so a word vocabulary covers prompts, facts, questions and answers; the haystack is mostly ``<unk>``.

1. The env's oracle plays ORACLE_EPISODES episodes, recorded to JSONL; a short SFT on them (memory_sft.yaml).
2. From that model, step-level GRPO (memory_step_grpo.yaml) branches k ways at every chunk and at the question, so
   training crosses the context resets (``rollout/contexts`` is 3); memory writes are scored by the env's
   memory/store hook, answers by the outcome.
3. Success is measured greedily on held-out seeds (``learning_helpers.HELD_OUT``, split "train": the test split's
   names are outside the vocabulary) and compared with the SFT start's.

Not reached yet: the +0.3 gain (``test_step_grpo_gains_over_sft_start`` is a strict xfail, so a run that reaches it
fails until the bar is made a plain assertion). The tiny model learns the formats but not to copy: it never writes
the chunk's fact into memory (memory/store stays 0, so 90% of sibling groups have zero advantage) and answers with a
guess from the name pool. Measured on a 2-core machine, one torch thread: these configs (256 oracle episodes, 60 SFT
steps, 60 step-level GRPO steps) give held-out success 0.031 after SFT and 0.000 after RL; the module took 58 s.
Longer runs did no better: 2048 oracle episodes and 800 SFT steps gave 0.086, then 0.055 after 150 RL steps (4.5
min); hidden 128, batch 32 gave 0.06 after 200 SFT steps.

With ``needle_position="end"`` (the chunk's fact closes it, so writing memory is a copy from a fixed distance), the
SFT start is no better, so RL was not run at length: the model copies the fact's template (it writes "... has made
a home in ..." or "The locker code of ...") but not its names, for which it writes one constant pool word
(memory/store stays 0). Held-out success after SFT: 256 oracle episodes and 60 steps 0.000; 512 and 400 steps 0.055
(1 min); 1024 and 800 steps with hidden 128 0.047 (5 min); one 64-word chunk (2 contexts), 4 layers, 1024 episodes
and 600 steps 0.039 (2 min). Untried: several thousand SFT steps (induction heads), an SFT mixture with forgotten
memories.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from learning_helpers import HELD_OUT, success

from turngym.agents import OraclePolicy
from turngym.agents.tiny_lm import tiny_tokenizer
from turngym.baselines.config import TrainConfig, load_config
from turngym.baselines.metrics import read_metrics
from turngym.baselines.run import build_policy, env_kwargs
from turngym.baselines.sft import train_sft
from turngym.baselines.step_grpo import train_step_grpo
from turngym.engine import play_episodes
from turngym.envs.memory.streams import _COMPANY_WORDS, _MONTHS, MemoryStream
from turngym.envs.vector import make_vec

CONFIGS = Path(__file__).resolve().parents[1] / "baselines" / "configs"
SFT_CONFIG, STEP_CONFIG = CONFIGS / "memory_sft.yaml", CONFIGS / "memory_step_grpo.yaml"
ORACLE_EPISODES = 256
MIN_GAIN = 0.3


def record_oracle_episodes(config: TrainConfig, path: Path, episodes: int) -> int:
    """Append ``episodes`` oracle episodes of the config's env to ``path``; returns how many succeeded."""
    with make_vec(config.env_id, 8, record_to=str(path), **env_kwargs(config)) as vec:
        return sum(e.success for e in play_episodes(vec, OraclePolicy(), episodes))


def test_names_pool_is_fixed_and_small():
    settings = dict(stream_tokens=128, chunk_tokens=64, num_facts=1, num_updates=0, num_questions=1, competencies=["AR"])
    streams = [MemoryStream(seed, names=12, haystack="world", **settings) for seed in range(50)]
    names = {w for s in streams for f in s.facts for w in f"{f.subject} {f.value}".split() if w.isalpha()}
    assert len(names - set(_COMPANY_WORDS) - set(_MONTHS)) == 12
    with pytest.raises(ValueError, match="names=4 is too small"):
        MemoryStream(0, names=4, haystack="world", **settings)


def test_needle_position_end_closes_each_chunk_with_its_facts():
    settings = dict(
        stream_tokens=600,
        chunk_tokens=100,
        num_facts=6,
        num_updates=2,
        competencies=["AR", "CR"],
        num_questions=2,
        haystack="world",
    )
    for seed in range(20):
        end, default = MemoryStream(seed, needle_position="end", **settings), MemoryStream(seed, **settings)
        assert [(f.chunk, f.sentence) for f in end.facts] == [(f.chunk, f.sentence) for f in default.facts]
        for i in range(end.num_chunks):
            needles = [f.sentence for f in end.facts_in_chunk(i)]
            assert end.chunk_sentences(i)[len(end.chunk_sentences(i)) - len(needles) :] == needles
            assert len(end.chunk(i).split()) == len(default.chunk(i).split()) == end.chunk_words(i)
    with pytest.raises(ValueError, match="needle_position"):
        MemoryStream(0, needle_position="middle", **settings)


def test_memory_vocabulary_covers_prompts_facts_and_answers():
    raw = yaml.safe_load(SFT_CONFIG.read_text())
    tokenizer = tiny_tokenizer("words", raw["tiny_words"])
    config = load_config(SFT_CONFIG, ["data=" + __file__])
    texts = []
    with make_vec(config.env_id, 1, **env_kwargs(config)) as vec:
        env = vec.envs[0]
        for seed in HELD_OUT[:32]:
            obs, _ = env.reset(seed=seed)
            texts.append(obs[0]["content"])
            stream = env.unwrapped.stream
            texts += [f.sentence for f in stream.facts] + [t for q in stream.questions for t in (q.text, *q.answers)]
    unknown = [t for t in texts if tokenizer.unk_token_id in tokenizer.encode(t)]
    assert not unknown, f"{len(unknown)} prompts, facts, questions or answers have words outside tiny_words: {unknown[:3]}"


@pytest.fixture(scope="module")
def memory_run(tmp_path_factory):
    """Record oracle episodes, SFT, measure the start, train step-level GRPO; returns (config, start, after)."""
    tmp = tmp_path_factory.mktemp("memory")
    data = tmp / "oracle.jsonl"
    data.touch()  # the SFT config checks that its data file exists; the oracle episodes are recorded into it below
    sft = load_config(SFT_CONFIG, [f"out_dir={tmp / 'sft'}", f"data={data}", "eval_every=0", "tensorboard=false"])
    assert record_oracle_episodes(sft, data, ORACLE_EPISODES) == ORACLE_EPISODES
    train_sft(sft, resume=False)
    cold, out = tmp / "sft" / "final_model", tmp / "step_grpo"
    config = load_config(
        STEP_CONFIG, [f"model={cold}", f"out_dir={out}", "eval_every=0", "checkpoint_every=0", "tensorboard=false"]
    )
    assert (config.env_id, config.env_kwargs, config.max_turns) == (sft.env_id, sft.env_kwargs, sft.max_turns)
    start = success(build_policy(config), config, HELD_OUT, temperature=0.0)
    train_step_grpo(config, resume=False)
    after = success(build_policy(dataclasses.replace(config, model=str(out / "final_model"))), config, HELD_OUT, 0.0)
    return config, out, start, after


@pytest.mark.slow
def test_step_grpo_trains_across_context_resets(memory_run):
    config, out, _, _ = memory_run
    records = read_metrics(out / "metrics.jsonl")
    assert len(records) == config.steps
    assert all(r["rollout/contexts"] > 1 for r in records), "training episodes did not cross a context reset"
    assert all(r["rollout/errors"] == 0 and r["rollout/step_groups"] > 0 for r in records)


@pytest.mark.slow
@pytest.mark.xfail(
    raises=AssertionError, strict=True, reason="measured 0.031 -> 0.000; needle_position=end no better (module docstring)"
)
def test_step_grpo_gains_over_sft_start(memory_run):
    _, _, start, after = memory_run
    assert after - start >= MIN_GAIN, f"held-out success {start:.3f} after SFT, {after:.3f} after step-level GRPO"
