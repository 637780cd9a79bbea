"""Token in, token out: multi-turn episodes of real envs played by HFPolicy with a tiny model.

The trajectory's policy tokens are exactly the sampled ids, its env tokens are exactly the chat
template's tokens for the env's messages, and recomputed log-probs match the stored ones.
"""

from __future__ import annotations

import pytest
import torch

import turngym
from turngym.agents.chat_tokens import encode, render
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.logprobs import sequence_logprobs
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer("bytes")


@pytest.fixture(scope="module")
def model(tok):
    return tiny_model(tok, seed=1)


def raw_text(tokenizer, sample) -> str:
    """The sampled tokens as text, special tokens included, without the eos the sample stopped at."""
    ids = sample.token_ids[:-1] if sample.finish_reason == "eos" else sample.token_ids
    return tokenizer.decode(ids, skip_special_tokens=False)


def play(policy, env, seed, *, force_oracle_after=None, k=1):
    """Play one episode; return the trajectory, the chosen samples and the conversation with raw action texts."""
    generator = torch.Generator().manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    traj = policy.start(obs)
    conversation = list(obs)
    chosen, checked = [], 0
    done = False
    while not done:
        if force_oracle_after is not None and len(chosen) >= force_oracle_after:
            sample = policy.teacher_forced(traj, encode(policy.tokenizer, env.unwrapped.oracle_action()))
        else:
            samples = policy.sample([traj], k, generator=generator)[0]
            assert len(samples) == k
            sample = samples[-1]
        policy.append(traj, sample)
        chosen.append(sample)
        conversation.append({"role": "assistant", "content": raw_text(policy.tokenizer, sample)})
        obs, _, terminated, truncated, _ = env.step(sample.text)
        done = terminated or truncated
        if not done:
            policy.observe(traj, obs)
            conversation.extend(obs)
            # the env's tokens are the template's: the whole trajectory decodes to the rendering
            rendered = render(
                policy.tokenizer, conversation, policy.tools, add_generation_prompt=True, tool_role=policy.tool_role
            )
            assert policy.tokenizer.decode(traj.token_ids, skip_special_tokens=False) == rendered
            checked += 1
    return traj, chosen, conversation, checked


def assert_token_in_token_out(policy, traj, chosen):
    assert traj.policy_token_ids() == [t for s in chosen for t in s.token_ids]
    assert [traj.token_ids[i : i + len(s.token_ids)] for i, s in zip(traj.turn_starts, chosen, strict=True)] == [
        s.token_ids for s in chosen
    ]
    assert all(m == 1 for i, s in zip(traj.turn_starts, chosen, strict=True) for m in traj.mask[i : i + len(s.token_ids)])
    assert traj.policy_token_count() == sum(len(s.token_ids) for s in chosen)
    ids = torch.tensor([traj.token_ids])
    with torch.no_grad():
        recomputed = sequence_logprobs(policy.model, ids, torch.ones_like(ids), temperature=policy.sampler.temperature)[0]
    mask = torch.tensor(traj.mask, dtype=torch.bool)
    stored = torch.tensor(traj.logprobs)
    assert stored[mask].ne(0).any()
    assert torch.equal(stored[~mask], torch.zeros_like(stored[~mask]))
    torch.testing.assert_close(recomputed[mask], stored[mask], atol=1e-4, rtol=0)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_guess_number_episodes_keep_sampled_tokens_and_logprobs(tok, model, temperature):
    env = turngym.make("turngym/GuessNumber-v0", high=20, max_turns=6, max_invalid_actions=6)
    policy = HFPolicy(model, tok, stop=env.unwrapped.stop_strings, max_new_tokens=12, temperature=temperature)
    reasons = set()
    for seed in range(2):
        traj, chosen, _, checked = play(policy, env, seed, k=2)
        assert len(chosen) == 6 and checked == 5  # every turn runs to the max_turns cut
        reasons.update(s.finish_reason for s in chosen)
        assert_token_in_token_out(policy, traj, chosen)
    assert "length" in reasons


@pytest.mark.parametrize("tool_role", ["template", "user"])
def test_toolcalc_episode_with_tool_messages(tok, model, tool_role):
    env = turngym.make("turngym/ToolCalc-v0", difficulty=3)
    policy = HFPolicy(model, tok, stop=env.unwrapped.stop_strings, max_new_tokens=16, tool_role=tool_role)
    traj, chosen, conversation, checked = play(policy, env, 5, force_oracle_after=1)
    assert sum(m["role"] == "tool" for m in conversation) == 3 and checked == len(chosen) - 1
    assert conversation[-1]["content"].startswith("<answer>")
    assert_token_in_token_out(policy, traj, chosen)
    turn = tok.decode(traj.token_ids[traj.turn_starts[1] - 30 : traj.turn_starts[1]])
    assert turn.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_stop_at_eos_closes_the_turn_once(tok, model):
    env = turngym.make("turngym/GuessNumber-v0", high=20)
    policy = HFPolicy(model, tok, stop=env.unwrapped.stop_strings, max_new_tokens=8)
    obs, _ = env.reset(seed=0)
    traj = policy.start(obs)
    forced = policy.teacher_forced(traj, [*encode(tok, "<guess>3</guess>"), tok.eos_token_id])
    assert forced.finish_reason == "eos" and forced.text == "<guess>3</guess>"
    policy.append(traj, forced)
    obs, *_ = env.step(forced.text)
    policy.observe(traj, obs)
    assert tok.decode(traj.token_ids).count("<guess>3</guess><|im_end|>\n<|im_start|>user\n") == 1


def test_naive_retokenisation_drifts_but_the_trajectory_does_not():
    """Re-encoding the decoded text merges tag pieces the policy sampled one by one: other ids, other log-probs."""
    words = tiny_tokenizer("words", ["guess"])
    model = tiny_model(words, seed=2)
    env = turngym.make("turngym/GuessNumber-v0", high=9)
    policy = HFPolicy(model, words, stop=env.unwrapped.stop_strings, max_new_tokens=8)
    obs, _ = env.reset(seed=0)
    traj = policy.start(obs)
    pieces = ["<", "guess", ">", "4", "</guess>"]  # "<guess>" as three tokens, as a policy may sample it
    sample = policy.teacher_forced(traj, words.convert_tokens_to_ids(pieces))
    policy.append(traj, sample)
    obs, *_ = env.step(sample.text)
    policy.observe(traj, obs)
    naive = encode(words, words.decode(traj.token_ids))
    assert naive != traj.token_ids and len(naive) == len(traj.token_ids) - 2
    assert traj.token_ids[traj.turn_starts[0] : traj.turn_starts[0] + 5] == words.convert_tokens_to_ids(pieces)
    assert_token_in_token_out(policy, traj, [sample])


def test_trajectory_order_is_enforced(tok, model):
    env = turngym.make("turngym/GuessNumber-v0", high=20)
    policy = HFPolicy(model, tok, stop=env.unwrapped.stop_strings, max_new_tokens=4)
    obs, _ = env.reset(seed=0)
    traj = policy.start(obs)
    with pytest.raises(ValueError, match=r"expected the policy's action \(append\)"):
        policy.observe(traj, [{"role": "user", "content": "x"}])
    sample = policy.sample([traj])[0][0]
    policy.append(traj, sample)
    with pytest.raises(ValueError, match="expected a trajectory that awaits an action"):
        policy.append(traj, sample)
    with pytest.raises(ValueError, match="expected trajectory 0 to await an action"):
        policy.sample([traj])
    branch = traj.copy()
    branch.token_ids.append(1)
    assert len(traj.token_ids) == len(branch.token_ids) - 1
