"""Token in, token out through ``/v1/completions``: ``OpenAITokenPolicy`` against ``turngym serve policy`` as a
real process (conftest's ``policy_server``), checked token by token against the same tiny model run locally."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import torch
from conftest import POLICY_SEED
from test_openai_policy import scripted  # noqa: F401  (the fixture: a scripted http.server)
from test_token_rollout import play

import turngym
from turngym.agents import TokenPolicy
from turngym.agents.chat_tokens import prompt_ids
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.logprobs import sequence_logprobs
from turngym.agents.openai_policy import PolicyServerError
from turngym.agents.openai_token_policy import OpenAITokenPolicy
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.engine import Engine

CONVERSATION = [{"role": "system", "content": "Guess."}, {"role": "user", "content": "Number? Reply <guess>N</guess>."}]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer("bytes")


@pytest.fixture(scope="module")
def model(tok):
    return tiny_model(tok, seed=POLICY_SEED)  # the served weights, rebuilt locally


def teacher_forced(model, ids: list[int], temperature: float = 1.0) -> torch.Tensor:
    """Each token's log-prob after the tokens before it (position 0 gets 0)."""
    batch = torch.tensor([ids])
    with torch.no_grad():
        return sequence_logprobs(model, batch, torch.ones_like(batch), temperature=temperature)[0]


def requests(url: str) -> int:
    return httpx.get(f"{url}/health").json()["requests"]


@pytest.mark.slow  # starts the server process (torch and transformers imports)
def test_completions_take_token_ids_and_answer_vllm_fields(policy_server, tok, model):
    prompt = prompt_ids(tok, CONVERSATION)
    body = {"model": "tiny", "prompt": prompt, "max_tokens": 6, "n": 3, "seed": 7, "logprobs": 0, "return_token_ids": True}
    first = httpx.post(f"{policy_server}/v1/completions", json=body).json()
    again = httpx.post(f"{policy_server}/v1/completions", json=body).json()
    assert first["object"] == "text_completion" and [c["index"] for c in first["choices"]] == [0, 1, 2]
    assert [c["token_ids"] for c in first["choices"]] == [c["token_ids"] for c in again["choices"]]  # seeded
    assert len({tuple(c["token_ids"]) for c in first["choices"]}) > 1  # three samples of one prompt
    for choice in first["choices"]:
        ids, logprobs = choice["token_ids"], choice["logprobs"]["token_logprobs"]
        assert choice["prompt_token_ids"] == prompt and 1 <= len(ids) == len(logprobs) <= 6
        assert choice["text"] == tok.decode(ids, skip_special_tokens=True)
        recomputed = teacher_forced(model, prompt + ids)[len(prompt) :]
        torch.testing.assert_close(recomputed, torch.tensor(logprobs), atol=1e-4, rtol=0)
    assert first["usage"]["prompt_tokens"] == len(prompt)
    plain = httpx.post(f"{policy_server}/v1/completions", json={"prompt": "Hi", "max_tokens": 2}).json()["choices"][0]
    assert "token_ids" not in plain and plain["logprobs"] is None  # only when asked, as vLLM does


@pytest.mark.slow  # starts the server process (torch and transformers imports)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": [[1, 2], [3]]}, "expected one prompt per request"),
        ({"prompt": [1, 10**6]}, "token ids in [0, "),
        ({"prompt": []}, "non-empty list of token ids"),
        ({"prompt": [1, 2], "logprobs": 5}, "expected logprobs 0, got 5"),
        ({"prompt": [1, 2], "top_p": 0.5}, "samples with top_p=1.0"),
        ({"prompt": [1, 2], "model": "gpt-9"}, "is not served here"),
    ],
)
def test_bad_completion_requests_are_clear_400s(policy_server, body, message):
    answer = httpx.post(f"{policy_server}/v1/completions", json={"max_tokens": 2, **body})
    assert answer.status_code in (400, 404) and message in answer.json()["error"]["message"]


@pytest.mark.slow  # starts the server process (torch and transformers imports)
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_episodes_are_token_exact_and_match_hf_policy(policy_server, policy_dir, tok, model, temperature):
    env = turngym.make("turngym/GuessNumber-v0", high=20, max_turns=4, max_invalid_actions=4)
    served = OpenAITokenPolicy(policy_server, "tiny", tokenizer=policy_dir, max_tokens=10, temperature=temperature)
    local = HFPolicy(model, tok)
    assert isinstance(served, TokenPolicy)
    with served:
        before = requests(policy_server)
        traj, chosen, conversation, checked = play(served, env, 0, k=2)  # asserts the ids decode to the rendering
        assert requests(policy_server) - before == len(chosen) == 4 and checked == 3  # n = 2 in one request per turn
    assert traj.policy_token_ids() == [t for s in chosen for t in s.token_ids]
    recomputed = teacher_forced(model, traj.token_ids, temperature)
    mask = torch.tensor(traj.mask, dtype=torch.bool)
    torch.testing.assert_close(recomputed[mask], torch.tensor(traj.logprobs)[mask], atol=1e-4, rtol=0)
    # the same samples through the local HFPolicy give the same trajectory, id for id
    obs, _ = env.reset(seed=0)
    mirror = local.start(obs)
    for sample in chosen:
        local.append(mirror, sample)
        obs, _, terminated, truncated, _ = env.step(sample.text)
        if not (terminated or truncated):
            local.observe(mirror, obs)
    assert (mirror.token_ids, mirror.mask, mirror.logprobs) == (traj.token_ids, traj.mask, traj.logprobs)


@pytest.mark.slow  # starts the server process (torch and transformers imports)
def test_k_candidates_of_each_state_are_one_request_with_n_k(policy_server, policy_dir, model):
    with (
        OpenAITokenPolicy(policy_server, "tiny", tokenizer=policy_dir, max_tokens=6) as policy,
        turngym.make_vec("turngym/GuessNumber-v0", 6, high=20, max_turns=2) as vec,
    ):
        before = requests(policy_server)
        rollout = Engine(vec, policy).branch([3, 4], k=3, choose=lambda group, rng: 0, rng=np.random.default_rng(0))
        assert requests(policy_server) - before == len(rollout.groups) == 4  # 2 episodes x 2 turns, n = 3 each
    for group in rollout.groups:
        assert len(group.samples) == 3
        for sample in group.samples:
            recomputed = teacher_forced(model, group.prefix + sample.token_ids)[len(group.prefix) :]
            torch.testing.assert_close(recomputed, torch.tensor(sample.logprobs), atol=1e-4, rtol=0)


def test_a_server_without_token_ids_is_reported_not_retokenised(scripted, tok):  # noqa: F811 (the imported fixture)
    url = f"http://127.0.0.1:{scripted.server_port}"
    text_only = {"choices": [{"index": 0, "text": "<guess>3</guess>", "finish_reason": "stop", "logprobs": None}]}
    no_logprobs = {"choices": [{"index": 0, "text": "hi", "token_ids": [104, 105], "finish_reason": "length"}]}
    scripted.script = [(200, text_only, 0), (200, no_logprobs, 0)]
    with OpenAITokenPolicy(url, "m", tokenizer=tok, max_tokens=5, stop=["</guess>"], extra_body={"seed": 2}) as policy:
        traj = policy.start(CONVERSATION)
        with pytest.raises(
            PolicyServerError, match=r"expected the sampled token ids in choices\[i\]\.token_ids .*vLLM >= 0\.10\.2"
        ):
            policy.sample([traj], 4, temperature=0.5)
        with pytest.raises(PolicyServerError, match=r"one log-prob per sampled token .* \(2 tokens\), got None"):
            policy.sample([traj], 1)
    sent = scripted.bodies[0]
    assert scripted.requests == 2 and sent["prompt"] == traj.token_ids and sent["n"] == 4
    assert {k: sent[k] for k in ("logprobs", "return_token_ids", "temperature", "max_tokens", "stop", "seed")} == {
        "logprobs": 0,
        "return_token_ids": True,
        "temperature": 0.5,
        "max_tokens": 5,
        "stop": ["</guess>"],
        "seed": 2,
    }
    assert "messages" not in sent and "tools" not in sent


def test_tokenizer_must_be_a_local_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected tokenizer a local folder"):
        OpenAITokenPolicy("http://127.0.0.1:9", "m", tokenizer=str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="expected a tokenizer saved in"):
        OpenAITokenPolicy("http://127.0.0.1:9", "m", tokenizer=tmp_path)
