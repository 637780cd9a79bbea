"""StepSampler: log-probs equal a full recompute, seeded reproducibility, stop/eos/length, top-p/top-k, shared prefix."""

from __future__ import annotations

import pytest
import torch

from turngym.agents.logprobs import pad_batch, sequence_logprobs
from turngym.agents.sampler import Sample, StepSampler, _draw
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer

WORDS = ["paris", "rome", "city", "the", "is", "capital"]


@pytest.fixture(scope="module")
def lm():
    tok = tiny_tokenizer("words", WORDS)
    return tok, tiny_model(tok, seed=2)


@pytest.fixture(scope="module")
def prompts(lm):
    tok, _ = lm
    return [tok.encode("the capital is"), tok.encode("?"), tok.encode("<answer>rome is the city, paris is the capital</answer>")]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _recompute(model, tok, prompts, results, temperature: float) -> float:
    """Largest gap between the stored log-probs and sequence_logprobs on prompt + sample (right padded)."""
    pairs = [(p, s) for p, samples in zip(prompts, results, strict=True) for s in samples]
    ids, mask = pad_batch([p + s.token_ids for p, s in pairs], tok.pad_token_id, device=model.device)
    with torch.no_grad():
        full = sequence_logprobs(model, ids, mask, temperature=temperature)
    gaps = [full[r, len(p) : len(p) + len(s.token_ids)].cpu() - torch.tensor(s.logprobs) for r, (p, s) in enumerate(pairs)]
    return max(g.abs().max().item() for g in gaps)


LAYOUTS = {"tree": {}, "copies": {"tree": False}, "naive": {"prefix_cache": False}}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_logprobs_equal_full_recompute_with_stops_and_eos(lm, prompts, layout):
    tok, model = lm
    sampler = StepSampler(model, tok, stop=["."], max_new_tokens=40, temperature=0.8, **LAYOUTS[layout])
    results = sampler.sample(prompts, k=8, generator=_gen(1))
    assert [len(r) for r in results] == [8, 8, 8]
    assert all(isinstance(s, Sample) and len(s.token_ids) == len(s.logprobs) >= 1 for r in results for s in r)
    reasons = {s.finish_reason for r in results for s in r}
    assert reasons == {"stop", "eos", "length"}  # all three ways of ending are covered by this seed
    assert _recompute(model, tok, prompts, results, 0.8) < 1e-4


def test_finish_reasons_and_text(lm, prompts):
    tok, model = lm
    results = StepSampler(model, tok, stop=[".", "</answer>"], max_new_tokens=30).sample(prompts, k=8, generator=_gen(2))
    for sample in (s for r in results for s in r):
        assert sample.text == tok.decode(sample.token_ids, skip_special_tokens=True)
        before = tok.decode(sample.token_ids[:-1], skip_special_tokens=True)
        assert not any(stop in before for stop in (".", "</answer>"))  # nothing ended earlier
        assert (sample.token_ids[-1] == tok.eos_token_id) == (sample.finish_reason == "eos")
        assert tok.eos_token_id not in sample.token_ids[:-1]
        if sample.finish_reason == "stop":
            assert "." in sample.text or "</answer>" in sample.text
        else:
            assert "." not in sample.text and "</answer>" not in sample.text
        if sample.finish_reason == "length":
            assert len(sample.token_ids) == 30


def test_multi_token_stop_string_cuts_at_the_first_token_that_completes_it(lm, prompts):
    tok, model = lm
    sampler = StepSampler(model, tok, max_new_tokens=12)
    free = sampler.greedy(prompts)
    for prompt, sample in zip(prompts, free, strict=True):
        assert sample.finish_reason in ("length", "eos")
        pieces = [tok.decode([t]) for t in sample.token_ids]
        stop = "".join(pieces[4:7])  # spans three tokens
        expected = next(j for j in range(1, len(pieces) + 1) if stop in "".join(pieces[:j]))
        cut = sampler.greedy([prompt], stop=[stop])[0]
        assert cut.finish_reason == "stop"
        assert cut.token_ids == sample.token_ids[:expected]
        assert cut.logprobs == pytest.approx(sample.logprobs[:expected], abs=1e-5)


def test_single_token_prompts_need_no_prefill(lm):
    tok, model = lm
    prompts = [[tok.convert_tokens_to_ids("the")], [tok.convert_tokens_to_ids("?")]]
    results = StepSampler(model, tok, max_new_tokens=8, temperature=0.9).sample(prompts, k=3, generator=_gen())
    assert _recompute(model, tok, prompts, results, 0.9) < 1e-4


def test_max_new_tokens_gives_length(lm, prompts):
    tok, model = lm
    for sample in (s for r in StepSampler(model, tok).sample(prompts, k=3, generator=_gen(), max_new_tokens=1) for s in r):
        assert len(sample.token_ids) == 1
        assert sample.finish_reason == ("eos" if sample.token_ids == [tok.eos_token_id] else "length")
    results = StepSampler(model, tok, max_new_tokens=4).sample(prompts, k=4, generator=_gen())
    assert all(len(s.token_ids) <= 4 for r in results for s in r)
    assert any(s.finish_reason == "length" and len(s.token_ids) == 4 for r in results for s in r)


def test_samples_differ_but_are_reproducible_from_the_seed(lm, prompts):
    tok, model = lm
    sampler = StepSampler(model, tok, max_new_tokens=10)
    first = sampler.sample(prompts, k=4, generator=_gen(7))
    again = sampler.sample(prompts, k=4, generator=_gen(7))
    other = sampler.sample(prompts, k=4, generator=_gen(8))
    ids = [[s.token_ids for s in r] for r in first]
    assert ids == [[s.token_ids for s in r] for r in again]
    assert ids != [[s.token_ids for s in r] for r in other]
    for branches in ids:
        assert len({tuple(b) for b in branches}) > 1


@pytest.mark.parametrize("layout", ["tree", "copies"])
def test_prefix_cache_and_naive_paths_sample_the_same(lm, prompts, layout):
    tok, model = lm
    shared = StepSampler(model, tok, stop=["."], max_new_tokens=20, temperature=1.3, **LAYOUTS[layout])
    naive = StepSampler(model, tok, stop=["."], max_new_tokens=20, temperature=1.3, prefix_cache=False)
    a = shared.sample(prompts, k=5, generator=_gen(3))
    b = naive.sample(prompts, k=5, generator=_gen(3))
    for ra, rb in zip(a, b, strict=True):
        for sa, sb in zip(ra, rb, strict=True):
            assert sa.token_ids == sb.token_ids and sa.finish_reason == sb.finish_reason
            assert sa.logprobs == pytest.approx(sb.logprobs, abs=1e-5)


def test_prefix_is_encoded_once_per_prompt(lm, prompts):
    tok, model = lm
    counted: list[int] = []
    handle = model.get_input_embeddings().register_forward_hook(lambda mod, args, out: counted.append(args[0].numel()))
    try:
        width = max(len(p) for p in prompts) - 1
        for layout, rows in (("tree", len(prompts)), ("copies", len(prompts)), ("naive", 6 * len(prompts))):
            counted.clear()
            StepSampler(model, tok, max_new_tokens=3, **LAYOUTS[layout]).sample(prompts, k=6, generator=_gen())
            assert counted[0] == rows * width  # the prefill
            assert all(c <= 6 * len(prompts) for c in counted[1:])  # then one token per live row
    finally:
        handle.remove()


def test_tiny_top_p_and_top_k_one_are_greedy(lm, prompts):
    tok, model = lm
    greedy = [s.token_ids for s in StepSampler(model, tok, max_new_tokens=15).greedy(prompts)]
    for kwargs in ({"top_p": 1e-6}, {"top_k": 1}):
        results = StepSampler(model, tok, max_new_tokens=15, **kwargs).sample(prompts, k=3, generator=_gen(5))
        assert [[s.token_ids for s in r] for r in results] == [[g] * 3 for g in greedy]


def test_top_k_and_top_p_restrict_the_draw(lm, prompts):
    tok, model = lm
    for kwargs in ({"top_k": 3}, {"top_p": 0.3}):
        results = StepSampler(model, tok, max_new_tokens=12, **kwargs).sample(prompts, k=4, generator=_gen(9))
        for prompt, samples in zip(prompts, results, strict=True):
            for s in samples:
                with torch.no_grad():
                    logits = model(torch.tensor([prompt + s.token_ids])).logits[0, len(prompt) - 1 : -1]
                probs = torch.softmax(logits, dim=-1)
                chosen = probs.gather(-1, torch.tensor(s.token_ids).unsqueeze(-1)).squeeze(-1)
                rank = (probs > chosen.unsqueeze(-1)).sum(-1)
                mass_above = torch.where(probs > chosen.unsqueeze(-1), probs, 0).sum(-1)
                if "top_k" in kwargs:
                    assert rank.max() < 3
                else:
                    assert mass_above.max() < 0.3 + 1e-5


def test_temperature_is_respected(lm, prompts):
    tok, model = lm
    for temperature in (0.5, 2.0):
        results = StepSampler(model, tok, max_new_tokens=10, temperature=temperature).sample(prompts, k=2, generator=_gen())
        assert _recompute(model, tok, prompts, results, temperature) < 1e-4
        assert _recompute(model, tok, prompts, results, 1.0) > 1e-2
    greedy = StepSampler(model, tok, max_new_tokens=10).greedy(prompts)
    assert _recompute(model, tok, prompts, [[g] for g in greedy], 1.0) < 1e-4  # greedy log-probs at temperature 1


def test_bad_input_raises(lm):
    tok, model = lm
    sampler = StepSampler(model, tok)
    with pytest.raises(ValueError, match="expected k an int >= 1, got 0"):
        sampler.sample([[1, 2]], k=0)
    with pytest.raises(ValueError, match="expected prompt 1 a non-empty list of token ids, got \\[\\]"):
        sampler.sample([[1, 2], []])
    with pytest.raises(ValueError, match="expected a non-empty sequence of prompts"):
        sampler.sample([])
    with pytest.raises(ValueError, match=f"expected prompt 0 of token ids in \\[0, {len(tok)}\\), got {len(tok)}"):
        sampler.sample([[len(tok)]])
    with pytest.raises(ValueError, match="expected temperature >= 0 \\(0 = greedy\\), got -0.5"):
        StepSampler(model, tok, temperature=-0.5)
    with pytest.raises(ValueError, match="expected top_p in \\(0, 1\\], got 0"):
        StepSampler(model, tok, top_p=0)
    with pytest.raises(ValueError, match="expected top_k an int >= 0"):
        StepSampler(model, tok, top_k=-1)
    with pytest.raises(ValueError, match="expected max_new_tokens an int >= 1, got 0"):
        sampler.sample([[1]], max_new_tokens=0)
    with pytest.raises(ValueError, match="expected stop a sequence of non-empty strings, got '.'"):
        StepSampler(model, tok, stop=".")  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_logprobs_match_recompute(lm, prompts):
    tok, _ = lm
    model = tiny_model(tok, seed=2).to("cuda", torch.bfloat16)
    sampler = StepSampler(model, tok, stop=["."], max_new_tokens=20)
    results = sampler.sample(prompts, k=4, generator=torch.Generator("cuda").manual_seed(0))
    assert _recompute(model, tok, prompts, results, 1.0) < 5e-2  # bf16 batches of different shapes round differently
    cpu_gen = StepSampler(model, tok, max_new_tokens=5).sample(prompts, k=2, generator=_gen())
    assert all(len(s.token_ids) >= 1 for r in cpu_gen for s in r)


def test_draws_follow_the_distribution_and_never_pick_a_zero():
    probs = torch.tensor([[0.5, 0.3, 0.0, 0.2]]).repeat(20_000, 1) * 3.0  # unnormalised, like after top-p
    drawn = _draw(probs, torch.rand((len(probs), 1), generator=_gen(11)))
    freq = torch.bincount(drawn, minlength=4).float() / len(drawn)
    assert freq[2] == 0
    torch.testing.assert_close(freq, torch.tensor([0.5, 0.3, 0.0, 0.2]), atol=0.015, rtol=0)
    assert torch.equal(drawn, _draw(probs, torch.rand((len(probs), 1), generator=_gen(11))))
