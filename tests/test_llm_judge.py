"""LLMJudge against a real local HTTP server (OpenAI chat API) and a tiny transformers model.

Batching: one ``score_batch`` is one backend call; an endpoint gets one request per step (the chat
API takes one conversation per request), sent concurrently; a local model samples every step's
reply in one batched call.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import turngym
from turngym.envs.hooks import LLMJudge
from turngym.envs.hooks.llm_judge import JudgeRequestError


class JudgeServer:
    """An OpenAI-compatible ``/v1/chat/completions`` that scores tool calls 8/10 and answers 0.4.

    A step holding neither gets a reply without a score. A step whose text holds ``flaky`` fails
    with HTTP 503 the first time it is seen. Every request body is kept in ``requests``.
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.seen_flaky = False
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, **body})
                    flaky_first = "flaky" in body["messages"][-1]["content"] and not server.seen_flaky
                    if flaky_first:
                        server.seen_flaky = True
                if self.path != "/v1/chat/completions":
                    return self.reply(404, {"error": "not found"})
                if flaky_first:
                    return self.reply(503, {"error": "busy"})
                step = body["messages"][-1]["content"].split("Agent's step:")[1].split("Environment's reply:")[0]
                if "<tool_call>" in step:
                    text = "The call is useful. Score: 8"
                elif "<answer>" in step:
                    text = "Score: 0.4"
                else:
                    text = "I cannot tell."
                self.reply(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})

            def reply(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with JudgeServer() as s:
        yield s


def toolcalc_step(actions):
    vec = turngym.make_vec("turngym/ToolCalc-v0", len(actions), difficulty=2)
    vec.reset(seed=0)
    oracle = vec.call("oracle_action")
    return vec.step([oracle[i] if a == "oracle" else a for i, a in enumerate(actions)])


def test_endpoint_judge_scores_a_vector_step_as_a_process_reward(server):
    step = toolcalc_step(["oracle", "<answer>12</answer>", "hmm", "oracle"])
    rewards_before = list(step.rewards)
    judge = LLMJudge.from_endpoint(server.url, "judge-model")
    step.add_process_rewards([judge], {"judge": 0.5})
    assert [info["reward_parts"].get("judge") for info in step.infos] == [pytest.approx(0.8), pytest.approx(0.4), None, 0.8]
    assert step.rewards[0] == pytest.approx(rewards_before[0] + 0.4)
    assert step.rewards[2] == pytest.approx(rewards_before[2])
    # one backend call for the whole vector step, one request per step
    assert judge.calls == 1 and len(server.requests) == 4
    assert {r["path"] for r in server.requests} == {"/v1/chat/completions"}
    assert all(r["model"] == "judge-model" and r["temperature"] == 0.0 for r in server.requests)
    assert all(r["messages"][0]["role"] == "system" and "Score: N" in r["messages"][0]["content"] for r in server.requests)
    assert judge.failures == ["I cannot tell."]


def test_endpoint_judge_accepts_a_v1_base_url_and_retries_a_busy_server(server):
    env = turngym.make("turngym/ToolCalc-v0", difficulty=2)
    env.reset(seed=1)
    env.step('<tool_call>{"name": "lookup", "arguments": {"item": "flaky"}}</tool_call>')
    judge = LLMJudge.from_endpoint(server.url + "/v1/", "m", timeout=5.0, backoff=0.01)
    assert judge.score_batch([env.last_context]) == [pytest.approx(0.8)]
    assert len(server.requests) == 2 and judge.failures == []


def test_endpoint_failures_are_recorded_not_raised(server):
    env = turngym.make("turngym/GuessNumber-v0")
    env.reset(seed=0)
    env.step("<guess>50</guess>")
    wrong_path = LLMJudge.from_endpoint(server.url + "/nowhere/v1", "m")
    assert wrong_path.score_batch([env.last_context]) == [None]
    assert "HTTP 404" in wrong_path.failures[0]
    server.__exit__()  # nothing listens there any more
    down = LLMJudge.from_endpoint(server.url, "m", retries=1, timeout=2.0, backoff=0.01)
    assert down.score_batch([env.last_context, env.last_context]) == [None, None]
    assert len(down.failures) == 2 and all(
        f.startswith("judge request failed: ") and "could not connect" in f for f in down.failures
    )


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="expected base_url an http"):
        LLMJudge.from_endpoint("localhost:8000", "m")
    with pytest.raises(TypeError, match="expected a callable backend"):
        LLMJudge("not callable")
    assert repr(JudgeRequestError("boom")) == "judge request failed: boom"


def test_a_tiny_hf_judge_scores_a_batch_in_one_call_and_records_its_garbage():
    from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer("bytes")
    model = tiny_model(tokenizer, seed=3)
    judge = LLMJudge.from_hf(model, tokenizer, max_new_tokens=8, max_prompt_tokens=128)
    step = toolcalc_step(["oracle", "oracle", "<answer>1</answer>"])
    step.add_process_rewards([judge], {"judge": 1.0})
    assert judge.calls == 1 and judge.prompts_scored == 3
    parts = [info["reward_parts"].get("judge") for info in step.infos]
    # an untrained model writes garbage: each step is either scored in [0, 1] or recorded as a failure
    assert sum(p is None for p in parts) == len(judge.failures)
    assert all(p is None or 0.0 <= p <= 1.0 for p in parts)
    again = LLMJudge.from_hf(model, tokenizer, max_new_tokens=8, max_prompt_tokens=128)
    toolcalc_step(["oracle", "oracle", "<answer>1</answer>"]).add_process_rewards([again])
    assert again.failures == judge.failures  # greedy decoding: the same replies


def test_a_tiny_hf_judge_taught_to_answer_scores_is_parsed():
    """A tiny model fine-tuned to reply 'Score: 7' to judge prompts: its replies come back as 0.7."""
    import torch

    from turngym.agents.logprobs import pad_batch, sequence_logprobs
    from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer("words", ["Score"])
    model = tiny_model(tokenizer, seed=0)
    judge = LLMJudge.from_hf(model, tokenizer, max_new_tokens=8, max_prompt_tokens=64)
    contexts = []
    for seed in range(4):
        env = turngym.make("turngym/GuessNumber-v0", high=50)
        env.reset(seed=seed)
        env.step(f"<guess>{seed + 20}</guess>")
        contexts.append(env.last_context)
    reply = tokenizer.encode("Score: 7", add_special_tokens=False) + [tokenizer.eos_token_id]
    prompts = [judge.backend.encode(judge.prompt(ctx)) for ctx in contexts]
    ids, mask = pad_batch([p + reply for p in prompts], tokenizer.pad_token_id)
    target = torch.zeros_like(mask)
    for row, p in enumerate(prompts):
        target[row, len(p) : len(p) + len(reply)] = 1
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        loss = -(sequence_logprobs(model, ids, mask) * target).sum() / target.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert judge.score_batch(contexts) == [pytest.approx(0.7)] * 4
    assert judge.failures == [] and judge.calls == 1
