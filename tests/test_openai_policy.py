"""OpenAIPolicy against a real local server process (``turngym serve policy`` on a tiny model: conftest's
``policy_server``), plus retries, timeouts and bad URLs against a scripted ``http.server``."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import torch
from conftest import POLICY_SEED

from turngym.agents.chat_tokens import prompt_ids
from turngym.agents.logprobs import sequence_logprobs
from turngym.agents.openai_policy import OpenAIPolicy, PolicyServerError, parse_completion
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer

LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
CONVERSATIONS = [
    [{"role": "system", "content": "Guess."}, {"role": "user", "content": f"Number {i}? Reply <guess>N</guess>."}]
    for i in range(5)
]


@pytest.mark.slow  # starts the server process (torch and transformers imports)
def test_server_lists_its_model_and_answers_health(policy_server):
    assert httpx.get(f"{policy_server}/v1/models").json()["data"][0]["id"] == "tiny"
    assert httpx.get(f"{policy_server}/health").json()["status"] == "ok"


@pytest.mark.slow  # starts the server process (torch and transformers imports)
def test_actions_come_back_with_the_sampled_tokens_and_their_logprobs(policy_server):
    with OpenAIPolicy(policy_server, "tiny", max_tokens=12, logprobs=True, concurrency=4) as policy:
        before = httpx.get(f"{policy_server}/health").json()
        outputs = policy.act_batch(CONVERSATIONS)
        after = httpx.get(f"{policy_server}/health").json()
    assert len(outputs) == len(CONVERSATIONS) == after["requests"] - before["requests"]
    assert after["sampler_calls"] - before["sampler_calls"] < len(CONVERSATIONS)  # concurrent requests were batched
    tok = tiny_tokenizer("bytes")
    model = tiny_model(tok, seed=POLICY_SEED)  # the served weights, rebuilt locally
    for conversation, out in zip(CONVERSATIONS, outputs, strict=True):
        assert isinstance(out.action, str) and 1 <= len(out.token_ids) == len(out.logprobs) <= 12
        assert out.action == tok.decode(out.token_ids, skip_special_tokens=True)
        prompt = prompt_ids(tok, conversation)
        ids = torch.tensor([prompt + out.token_ids])
        with torch.no_grad():
            recomputed = sequence_logprobs(model, ids, torch.ones_like(ids))[0, len(prompt) :]
        torch.testing.assert_close(recomputed, torch.tensor(out.logprobs), atol=1e-4, rtol=0)


@pytest.mark.slow  # starts the server process (torch and transformers imports)
def test_seeded_requests_repeat_and_n_samples_share_one_prompt(policy_server):
    body = {"model": "tiny", "messages": CONVERSATIONS[0], "max_tokens": 8, "seed": 7, "n": 3}
    first = httpx.post(f"{policy_server}/v1/chat/completions", json=body).json()
    again = httpx.post(f"{policy_server}/v1/chat/completions", json=body).json()
    texts = [c["message"]["content"] for c in first["choices"]]
    assert texts == [c["message"]["content"] for c in again["choices"]]
    assert len(set(texts)) > 1  # three different samples of one prompt
    assert 3 <= first["usage"]["completion_tokens"] <= 24 and first["usage"]["prompt_tokens"] > 20


@pytest.mark.slow  # starts the server process (torch and transformers imports)
def test_stop_strings_are_cut_or_kept_and_the_action_keeps_them(policy_server):
    body = {"model": "tiny", "messages": CONVERSATIONS[1], "max_tokens": 64, "seed": 1, "stop": LETTERS}
    cut = httpx.post(f"{policy_server}/v1/chat/completions", json=body).json()["choices"][0]
    kept_body = {**body, "include_stop_str_in_output": True}
    kept = httpx.post(f"{policy_server}/v1/chat/completions", json=kept_body).json()["choices"][0]
    assert cut["finish_reason"] == "stop" and cut["stop_reason"] in LETTERS
    assert kept["message"]["content"] == cut["message"]["content"] + cut["stop_reason"]
    assert not any(c in cut["message"]["content"] for c in LETTERS)
    assert parse_completion({"choices": [cut]}).action == kept["message"]["content"]  # the stop string is put back for the env
    with OpenAIPolicy(policy_server, "tiny", max_tokens=64, stop=LETTERS, extra_body={"seed": 1}) as policy:
        assert policy.act_batch([CONVERSATIONS[1]])[0].action == kept["message"]["content"]


@pytest.mark.slow  # starts the server process (torch and transformers imports)
def test_server_errors_name_the_problem_and_are_not_retried(policy_server):
    with OpenAIPolicy(policy_server, "gpt-9", max_retries=3, backoff=5.0) as policy:
        start = time.monotonic()
        with pytest.raises(
            PolicyServerError, match=r"completions failed with HTTP 404: model 'gpt-9' is not served here.*'tiny'"
        ):
            policy.act_batch([CONVERSATIONS[0]])
        assert time.monotonic() - start < 4  # a 4xx is not retried
    bad = httpx.post(f"{policy_server}/v1/chat/completions", json={"model": "tiny", "messages": [], "max_tokens": 0})
    assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]


class Scripted(BaseHTTPRequestHandler):
    """Answers each POST from the server's script: (status, body, delay seconds); keeps the request bodies."""

    def do_POST(self):
        self.server.bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null"))
        self.server.requests += 1
        status, body, delay = self.server.script.pop(0) if self.server.script else (200, COMPLETION, 0)
        time.sleep(delay)
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout)
            pass

    def log_message(self, *args):
        pass


COMPLETION = {
    "choices": [
        {
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
            },
            "finish_reason": "tool_calls",
        }
    ]
}


@pytest.fixture
def scripted():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    httpd.script, httpd.requests, httpd.bodies = [], 0, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_retries_5xx_then_returns_tool_calls_as_a_message(scripted):
    scripted.script = [(500, {"error": {"message": "overloaded"}}, 0), (503, {}, 0)]
    url = f"http://127.0.0.1:{scripted.server_port}/v1"
    with OpenAIPolicy(url, "m", max_retries=3, backoff=0.01) as policy:
        out = policy.act_batch([CONVERSATIONS[0]])[0]
    assert scripted.requests == 3
    assert out.action == {"role": "assistant", "content": None, "tool_calls": COMPLETION["choices"][0]["message"]["tool_calls"]}
    assert out.token_ids is None and out.logprobs is None
    scripted.script, scripted.requests = [(500, {"error": {"message": "overloaded"}}, 0)] * 2, 0
    with OpenAIPolicy(url, "m", max_retries=1, backoff=0.01) as policy, pytest.raises(PolicyServerError) as info:
        policy.act_batch([CONVERSATIONS[0]])
    assert f"{url}/chat/completions failed after 2 attempts; last: HTTP 500: overloaded" in str(info.value)
    assert scripted.requests == 2


def test_timeouts_are_retried_then_reported(scripted):
    scripted.script = [(200, COMPLETION, 1.0), (200, COMPLETION, 1.0)]
    with OpenAIPolicy(f"http://127.0.0.1:{scripted.server_port}", "m", timeout=0.2, max_retries=1, backoff=0) as policy:
        start = time.monotonic()
        with pytest.raises(PolicyServerError, match=r"failed after 2 attempts; last: timed out after 0.2 s"):
            policy.act_batch([CONVERSATIONS[0]])
        assert time.monotonic() - start < 0.9
    with OpenAIPolicy(f"http://127.0.0.1:{scripted.server_port}", "m", timeout=0.5, max_retries=2, backoff=0) as policy:
        scripted.script = [(200, COMPLETION, 1.0)]
        assert isinstance(policy.act_batch([CONVERSATIONS[0]])[0].action, dict)  # the retry answered in time


def test_bad_urls_are_clear_errors():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with (
        OpenAIPolicy(f"http://127.0.0.1:{port}", "m", max_retries=1, backoff=0) as policy,
        pytest.raises(PolicyServerError) as info,
    ):
        policy.act_batch([CONVERSATIONS[0]])
    assert f"POST http://127.0.0.1:{port}/v1/chat/completions failed after 2 attempts; last: could not connect" in str(info.value)
    for url in ("localhost:8000", "ftp://host", ""):
        with pytest.raises(ValueError, match="expected base_url an http"):
            OpenAIPolicy(url, "m")


def test_completion_without_choices_is_reported():
    with pytest.raises(PolicyServerError, match=r"expected a chat completion with choices\[i\].message from the server"):
        parse_completion({"error": "nope"})


def test_serve_policy_reports_a_folder_that_is_no_model(tmp_path):
    from typer.testing import CliRunner

    from turngym.cli.commands import app

    result = CliRunner().invoke(app, ["serve", "policy", "--model", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1
    assert "expected a local model directory with config.json" in result.output and "no config.json in it" in result.output


@pytest.mark.slow  # starts the server process (torch and transformers imports)
def test_the_token_protocol_asks_for_k_choices_in_one_request_and_plays_through_the_engine(policy_server):
    import turngym
    from turngym.agents import TokenPolicy
    from turngym.engine import Engine

    with OpenAIPolicy(policy_server, "tiny", max_tokens=8, logprobs=True) as policy:
        assert isinstance(policy, TokenPolicy)
        traj = policy.start(CONVERSATIONS[0])
        before = httpx.get(f"{policy_server}/health").json()["requests"]
        samples = policy.sample([traj], 3, temperature=1.0, max_new_tokens=5)[0]
        assert httpx.get(f"{policy_server}/health").json()["requests"] - before == 1  # n = 3 in one request
        assert len(samples) == 3 and all(1 <= len(s.token_ids) == len(s.logprobs) <= 5 for s in samples)
        policy.append(traj, samples[0])
        assert traj.messages[-1] == {"role": "assistant", "content": samples[0].text} and traj.mask == [1] * len(
            samples[0].token_ids
        )
        with turngym.make_vec("turngym/GuessNumber-v0", 2, max_turns=2) as vec:
            episodes = Engine(vec, policy).play([0, 1, 2])
    assert [e.seed for e in episodes] == [0, 1, 2] and all(e.turns >= 1 for e in episodes)
    assert all(len(e.trajectory.token_ids) == sum(e.trajectory.mask) > 0 for e in episodes)
