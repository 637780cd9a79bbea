"""HFPolicy: loading a local folder (dtype, LoRA), stateless act_batch, stop strings from the env."""

from __future__ import annotations

import pytest
import torch

import turngym
from turngym.agents.base import Policy
from turngym.agents.chat_tokens import prompt_ids
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.logprobs import sequence_logprobs
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    tok = tiny_tokenizer("bytes")
    tiny_model(tok, seed=4).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_from_pretrained_loads_fp32_on_cpu_with_the_chat_template(tiny_dir):
    policy = HFPolicy.from_pretrained(tiny_dir, max_new_tokens=5, device="cpu")
    assert isinstance(policy, Policy)
    assert policy.model.dtype == torch.float32 and policy.model.device.type == "cpu"
    assert policy.closing == "<|im_end|>\n" and policy.sampler.max_new_tokens == 5
    reference = tiny_model(tiny_tokenizer("bytes"), seed=4)
    assert torch.equal(policy.model.lm_head.weight, reference.lm_head.weight)
    assert HFPolicy.from_pretrained(tiny_dir, dtype="bfloat16", device="cpu").model.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="expected dtype a floating torch dtype or its name"):
        HFPolicy.from_pretrained(tiny_dir, dtype="int8", device="cpu")


def test_lora_trains_only_the_adapters_and_keeps_token_logprobs_exact(tiny_dir):
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    policy = HFPolicy.from_pretrained(tiny_dir, lora=lora, device="cpu")
    trainable = [n for n, p in policy.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    for name, param in policy.model.named_parameters():  # lora_B starts at 0: make the adapters matter
        if "lora_B" in name:
            param.data.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    env = turngym.make("turngym/GuessNumber-v0", high=9)
    obs, _ = env.reset(seed=0)
    traj = policy.start(obs)
    sample = policy.sample([traj], 2, generator=torch.Generator().manual_seed(0))[0][0]
    policy.append(traj, sample)
    ids = torch.tensor([traj.token_ids])
    with torch.no_grad():
        adapted = sequence_logprobs(policy.model, ids, torch.ones_like(ids))[0]
        with policy.model.disable_adapter():
            base = sequence_logprobs(policy.model, ids, torch.ones_like(ids))[0]
    mask = torch.tensor(traj.mask, dtype=torch.bool)
    torch.testing.assert_close(adapted[mask], torch.tensor(sample.logprobs), atol=1e-4, rtol=0)
    assert (adapted[mask] - base[mask]).abs().max() > 1e-3
    with pytest.raises(TypeError, match="expected lora a dict of LoraConfig arguments"):
        HFPolicy.from_pretrained(tiny_dir, lora=4, device="cpu")


def test_act_batch_samples_each_conversation_from_its_full_rendering():
    tok = tiny_tokenizer("bytes")
    model = tiny_model(tok, seed=5)
    policy = HFPolicy(model, tok, max_new_tokens=6, temperature=0.0)
    conversations = [
        [{"role": "user", "content": "hi"}],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "and?"}],
    ]
    outputs = policy.act_batch(conversations)
    assert policy.act_batch([]) == []
    for conversation, out in zip(conversations, outputs, strict=True):
        prompt = prompt_ids(tok, conversation)
        expected = model.generate(torch.tensor([prompt]), max_new_tokens=6, do_sample=False)[0, len(prompt) :].tolist()
        assert out.token_ids == expected[: len(out.token_ids)] and len(out.logprobs) == len(out.token_ids)
        assert out.action == tok.decode(out.token_ids, skip_special_tokens=True)


def test_stop_string_ends_the_turn_and_stays_in_the_action():
    tok = tiny_tokenizer("words", ["guess"])
    policy = HFPolicy(tiny_model(tok, seed=6), tok, stop=["</guess>"], max_new_tokens=200)
    obs, _ = turngym.make("turngym/GuessNumber-v0").reset(seed=0)
    trajs = [policy.start(obs)]
    samples = policy.sample(trajs, 16, generator=torch.Generator().manual_seed(0))[0]
    stopped = [s for s in samples if s.finish_reason == "stop"]
    assert stopped, [s.finish_reason for s in samples]
    for s in stopped:
        assert s.text.endswith("</guess>") and s.text.count("</guess>") == 1
