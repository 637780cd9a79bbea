"""Simulated conversations per hour on ``turngym/Clarify-v0``: rule user, live model user, replayed model user.

Setup: the env's oracle agent (ask for the missing value, then answer) plays ``--conversations``
episodes (seeds 0, 1, ...; all three families, train split) against three users:

* ``rule``: the env's rule-based user (``ClarifyUser``), no model;
* ``model live``: ``ModelUser`` over ``HFClient`` (tau2's user prompt; each turn sampled from a
  seed derived from the episode seed and the turn), wrapped in ``RecordedClient(..., "record")``;
  the model is a tiny random Llama with a byte tokenizer built from a config (no download), or a
  prepared folder given with ``--model`` (``turngym model prepare smollm2-135m runs/smollm2``);
* ``model replay``: the same seeds with ``RecordedClient(None, path, "replay")``: every user turn
  is read from the record, no model is loaded.

The replayed conversations must equal the live ones message for message (the bench asserts it).
For reference, tau2-bench's design doc reports 273 to 626 simulations per hour with live LLM users
(and a live LLM agent, which here is the scripted oracle).

Run from the repository root::

    python bench/dialogue.py                       # tiny model user, 200 model conversations
    python bench/dialogue.py --model runs/smollm2  # SmolLM2-135M-Instruct as the user
    python bench/dialogue.py --quick               # 2000 rule, 40 model conversations

Measured (2-core CPU machine, python 3.11, shared with other jobs, one torch thread)::

    rule user: 21,099,287 conversations/hour (20000 in 3.41 s)
    model user live (tiny-bytes, 48 new tokens, 1.0 user turns/conversation): 91,996 conversations/hour (200 in 7.83 s)
    model user replayed: 20,097,168 conversations/hour (200 in 0.04 s), transcripts identical to live: True
    tau2-bench (its design doc, live LLMs): 273-626 conversations/hour
    ratio replay/live speed-up: 218.5x

With ``--model`` a SmolLM2-135M-Instruct folder (``--rule-conversations 5000 --conversations 20``):
live 824 conversations/hour (20 in 87.4 s, about 4.4 s per user turn), replayed 16 million/hour
(20 in under 0.01 s, so its speed-up, about 20,000x, is a rough figure).

The last line printed is the replay / live speed-up of the model user.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import turngym
from turngym.envs.dialogue.users import ModelUser
from turngym.envs.model_calls import HFClient, RecordedClient

ENV_ID = "turngym/Clarify-v0"
TAU2_PER_HOUR = (273, 626)


def play(user: Any, seeds: range) -> tuple[list[list[dict]], float]:
    """The oracle's conversations with ``user`` ("rule" or a ``UserSimulator``) on ``seeds``, and their seconds."""
    env = turngym.make(ENV_ID, user=user)
    transcripts = []
    start = time.perf_counter()
    for seed in seeds:
        messages, _ = env.reset(seed=seed)
        messages = list(messages)
        done = False
        while not done:
            action = env.unwrapped.oracle_action()
            obs, _, terminated, truncated, _ = env.step(action)
            messages += [{"role": "assistant", "content": action}, *obs]
            done = terminated or truncated
        transcripts.append(messages)
    return transcripts, time.perf_counter() - start


def user_model(path: str | None, max_new_tokens: int) -> HFClient:
    """A model user's client: the prepared folder ``path``, or a tiny random Llama built from a config."""
    if path:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        tokenizer = AutoTokenizer.from_pretrained(path)
    else:
        from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer

        tokenizer = tiny_tokenizer("bytes")
        model = tiny_model(tokenizer, layers=2, hidden=64)
    return HFClient(model, tokenizer, model_name=path or "tiny-bytes", max_new_tokens=max_new_tokens, temperature=1.0)


def per_hour(n: int, seconds: float) -> float:
    return n / seconds * 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 rule and 40 model conversations")
    parser.add_argument("--rule-conversations", type=int, default=20_000)
    parser.add_argument("--conversations", type=int, default=200, help="conversations with the model user")
    parser.add_argument("--model", default=None, help="a prepared model folder for the user (default: tiny, random)")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.quick:
        args.rule_conversations, args.conversations = 2_000, 40
    torch.set_num_threads(args.threads)

    _, rule_s = play("rule", range(args.rule_conversations))
    client = user_model(args.model, args.max_new_tokens)
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "user_calls.jsonl"
        recorder = RecordedClient(client, record, "record")
        live, live_s = play(ModelUser(recorder), range(args.conversations))
        replayer = RecordedClient(None, record, "replay")
        replayed, replay_s = play(ModelUser(replayer), range(args.conversations))
    assert replayed == live, "the replayed conversations differ from the live ones"
    assert replayer.model_calls == 0 and replayer.replayed == recorder.model_calls > 0

    turns = recorder.model_calls / args.conversations
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), {ENV_ID}")
    rule = per_hour(args.rule_conversations, rule_s)
    print(f"rule user: {rule:,.0f} conversations/hour ({args.rule_conversations} in {rule_s:.2f} s)")
    print(
        f"model user live ({client.model_name}, {args.max_new_tokens} new tokens, {turns:.1f} user turns/conversation): "
        f"{per_hour(args.conversations, live_s):,.0f} conversations/hour ({args.conversations} in {live_s:.2f} s)"
    )
    print(
        f"model user replayed: {per_hour(args.conversations, replay_s):,.0f} conversations/hour "
        f"({args.conversations} in {replay_s:.2f} s), transcripts identical to live: {replayed == live}"
    )
    print(f"tau2-bench (its design doc, live LLMs): {TAU2_PER_HOUR[0]}-{TAU2_PER_HOUR[1]} conversations/hour")
    print(f"ratio replay/live speed-up: {live_s / replay_s:.1f}x")


if __name__ == "__main__":
    main()
