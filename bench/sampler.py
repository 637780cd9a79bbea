"""StepSampler: k branches from one shared prefix KV cache against naive per-branch generation, in tokens/s.

B prompts of about ``--prefix`` tokens (1,000; random byte tokens from a seeded generator, the
lengths differ by a few tokens so the batch is left-padded), k branches each (8), ``--new`` new
tokens per branch (48; no stop strings; a branch that samples eos ends early, and every side
samples the same tokens, so all sides count the same tokens). The sides:

- shared prefix, tree: ``StepSampler()``: each prompt's prefix is encoded once and kept once; its
  k branches decode in the same cache row under a prefix-tree attention mask, so a decode step
  reads the prefix's keys and values once per prompt, not once per branch.
- shared prefix, copies: ``StepSampler(tree=False)`` (what models whose attention takes no custom
  mask get): the prefix is encoded once, its KV cache copied k times, then one batched decode of
  the B*k rows.
- naive, batched: ``StepSampler(prefix_cache=False)``: each of the B*k rows encodes its own full
  prompt in one batched prefill, then the same batched decode (the same random draws, so the
  same samples: the bench checks that).
- naive, one branch at a time (``--hf-generate``): HF ``model.generate`` once per branch, each
  with its own full prompt, as a loop that samples branches one by one does it.

Tokens/s counts the new tokens over the wall time of the whole call (prefill included): the
time it takes to get the samples. Each side runs ``--repeats`` times; the best counts.

Models: ``--arch small`` (default): a Llama built from a config, 4 layers, hidden 256, 4 heads,
MLP 512, byte vocabulary (259), fp32, random weights. ``--arch smollm2``: SmolLM2-135M's shape
(30 layers, hidden 576, 9 heads, 3 KV heads, MLP 1536, vocabulary 49,152), random weights.
``--model PATH``: a local model directory (e.g. one made by ``turngym model prepare``).

Run from the repository root::

    python bench/sampler.py                    # CPU, small Llama, B=4, k=8, prefix 1000, 48 new tokens
    python bench/sampler.py --quick            # B=2, prefix 500, 32 new tokens, best of 1
    python bench/sampler.py --device cuda --arch smollm2 --batch 16

The last line printed is ``ratio shared prefix / naive batched tokens/s: X.XXx (goal >= 3x)`` (the tree side).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

from turngym.agents.kv_cache import supports_tree_mask
from turngym.agents.sampler import Sample, StepSampler
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer


def build_model(args: argparse.Namespace) -> tuple[torch.nn.Module, object, str]:
    """The model, its tokenizer and a one-line description."""
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    if args.model:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(args.model, local_files_only=True, dtype=dtype)
        what = f"{args.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters)"
    elif args.arch == "small":
        tok = tiny_tokenizer("bytes")
        model = tiny_model(tok, layers=4, hidden=256, heads=4, seed=args.seed)
        what = "Llama from a config: 4 layers, hidden 256, 4 heads, MLP 512, vocabulary 259, random weights"
    else:
        tok = tiny_tokenizer("bytes")
        config = LlamaConfig(
            vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
            num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=True,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        )  # fmt: skip
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)
            model = LlamaForCausalLM(config)
        what = "SmolLM2-135M's shape from a config (30 layers, hidden 576, 9/3 heads, vocabulary 49152), random weights"
    model = model.to(device=args.device, dtype=dtype).eval()
    return model, tok, f"{what}, {args.dtype} on {args.device}"


def make_prompts(args: argparse.Namespace, vocab: int) -> list[list[int]]:
    """B prompts of random ordinary tokens (no special ids), lengths prefix, prefix-3, prefix-6, ..."""
    gen = torch.Generator().manual_seed(args.seed)
    high = min(vocab, 256)
    return [torch.randint(0, high, (max(1, args.prefix - 3 * i),), generator=gen).tolist() for i in range(args.batch)]


def digest(results: list[list[Sample]]) -> str:
    return hashlib.sha1(repr([[s.token_ids for s in r] for r in results]).encode()).hexdigest()[:10]


def timed(fn: Callable[[], list[list[Sample]]], repeats: int, device: str) -> tuple[float, list[list[Sample]]]:
    """Best wall time of ``repeats`` calls, and the last call's results."""
    times, results = [], []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        results = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times), results


def hf_generate_per_branch(model, tok, prompts: list[list[int]], args: argparse.Namespace) -> list[list[Sample]]:
    """Each of the B*k branches by its own ``model.generate`` call on its full prompt."""
    out: list[list[Sample]] = []
    for i, prompt in enumerate(prompts):
        branches = []
        for j in range(args.k):
            torch.manual_seed(args.seed * 1000 + i * args.k + j)
            ids = torch.tensor([prompt], device=model.device)
            gen = model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                max_new_tokens=args.new, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
            )  # fmt: skip
            new = gen[0, len(prompt) :].tolist()
            branches.append(Sample(new, [], "", "length"))
        out.append(branches)
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _tokens(results: list[list[Sample]]) -> int:
    return sum(len(s.token_ids) for r in results for s in r)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="B=2, prefix 500, 32 new tokens, best of 1, no HF generate side")
    parser.add_argument("--batch", type=int, default=4, help="prompts B")
    parser.add_argument("--k", type=int, default=8, help="branches per prompt")
    parser.add_argument("--prefix", type=int, default=1000, help="prompt length in tokens (the longest prompt)")
    parser.add_argument("--new", type=int, default=48, help="new tokens per branch")
    parser.add_argument("--repeats", type=int, default=3, help="runs per side; the best counts")
    parser.add_argument("--arch", choices=["small", "smollm2"], default="small", help="the model built from a config")
    parser.add_argument("--model", default=None, help="a local model directory instead of --arch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default=None, help="default fp32 on CPU, bf16 on CUDA")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--hf-generate", action=argparse.BooleanOptionalAction, default=None, help="time HF generate per branch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.batch, args.prefix, args.new, args.repeats = 2, 500, 32, 1
    args.dtype = args.dtype or ("bf16" if args.device.startswith("cuda") else "fp32")
    args.hf_generate = (not args.quick) if args.hf_generate is None else args.hf_generate
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tok, what = build_model(args)
    prompts = make_prompts(args, model.get_input_embeddings().num_embeddings)
    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{os.cpu_count()} CPUs ({torch.get_num_threads()} torch threads); load average at start {_load()}"
    )
    print(f"model: {what}")
    lengths = f"{min(map(len, prompts))}-{max(map(len, prompts))}"
    print(f"B={args.batch} prompts of {lengths} tokens, k={args.k}, {args.new} new tokens\n")

    sides = {
        "shared prefix, tree (StepSampler)": StepSampler(model, tok, max_new_tokens=args.new),
        "naive, batched (prefix_cache=False)": StepSampler(model, tok, max_new_tokens=args.new, prefix_cache=False),
        "shared prefix, copies (tree=False)": StepSampler(model, tok, max_new_tokens=args.new, tree=False),
    }
    for sampler in sides.values():  # warm-up
        sampler.sample([p[:50] for p in prompts], args.k, generator=torch.Generator().manual_seed(0), max_new_tokens=4)

    rows = []
    for name, sampler in sides.items():
        seconds, results = timed(lambda s=sampler: s.sample(prompts, args.k, generator=torch.Generator().manual_seed(args.seed)),
                                 args.repeats, args.device)  # fmt: skip
        rows.append((name, seconds, _tokens(results), digest(results)))
    if args.hf_generate:
        seconds, results = timed(lambda: hf_generate_per_branch(model, tok, prompts, args), 1, args.device)
        rows.append(("naive, one branch at a time (HF generate)", seconds, _tokens(results), "-"))
    attention = model.config._attn_implementation
    tree_kind = "tree" if supports_tree_mask(model) else f"copies: attention {attention!r} takes no tree mask"

    print(f"{'side':<42} {'seconds':>8} {'tokens':>7} {'tokens/s':>9} {'samples':>11}")
    for name, seconds, tokens, sig in rows:
        print(f"{name:<42} {seconds:>8.3f} {tokens:>7} {tokens / seconds:>9.1f} {sig:>11}")
    same = len({row[3] for row in rows[:3]}) == 1
    print(f"\nshared prefix ({tree_kind}), copies and naive batched sampled the same tokens: {'yes' if same else 'NO'}")
    print(f"load average at the end {_load()} (other processes share these CPUs)" if args.device == "cpu" else "")
    rate = [tokens / seconds for _, seconds, tokens, _ in rows]
    print(f"ratio shared prefix copies / naive batched tokens/s: {rate[2] / rate[1]:.2f}x")
    if args.hf_generate:
        print(f"ratio shared prefix / naive one branch at a time tokens/s: {rate[0] / rate[3]:.2f}x")
    print(f"ratio shared prefix / naive batched tokens/s: {rate[0] / rate[1]:.2f}x (goal >= 3x)")


if __name__ == "__main__":
    main()
