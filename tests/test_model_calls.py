"""Model clients and record/replay: keys, a real local HTTP endpoint, a tiny HF model, and the LLM judge replayed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import turngym
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.envs.errors import RecordError, TurngymError
from turngym.envs.hooks import LLMJudge
from turngym.envs.model_calls import (
    EndpointClient,
    HFClient,
    MissingModelCall,
    ModelClient,
    RecordedClient,
    call_key,
    call_seed,
)

HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello " * 30}]


class Counter:
    """A deterministic client: replies with the seed and the last message; counts its calls."""

    model_name = "counter"
    settings = {"temperature": 1.0}

    def __init__(self):
        self.calls = 0

    def complete(self, messages, *, seed, **settings):
        self.calls += 1
        return f"{seed}:{messages[-1]['content'][:5]}:{settings.get('temperature', 1.0)}"


class Unreachable(Counter):
    """A client that fails if the model is ever asked (a replay must not reach it)."""

    def complete(self, messages, *, seed, **settings):
        raise AssertionError("the model was called during a replay")


def test_call_key_is_canonical_and_names_every_part_of_the_call():
    key = call_key("m", {"a": 1, "b": 2}, HELLO, 3)
    assert key == call_key("m", {"b": 2, "a": 1}, [dict(reversed(list(m.items()))) for m in HELLO], 3)
    others = {call_key("n", {"a": 1, "b": 2}, HELLO, 3), call_key("m", {"a": 1}, HELLO, 3)}
    others |= {call_key("m", {"a": 1, "b": 2}, HELLO[:1], 3), call_key("m", {"a": 1, "b": 2}, HELLO, 4)}
    assert key not in others and len(others) == 4
    assert call_seed(7, 1) == call_seed(7, 1) != call_seed(7, 2) and 0 <= call_seed(-1, 0) < 2**31
    with pytest.raises(TypeError, match="expected integer seed parts"):
        call_seed(1, "2")


def test_record_then_replay_without_the_model(tmp_path):
    path = tmp_path / "calls.jsonl"
    model = Counter()
    assert isinstance(model, ModelClient)
    recorder = RecordedClient(model, path, mode="record")
    live = [recorder.complete(HELLO, seed=s) for s in (0, 1)] + [recorder.complete(HELLO, seed=0, temperature=0.5)]
    assert live == ["0:hello:1.0", "1:hello:1.0", "0:hello:0.5"] and model.calls == 3
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["model"], r["seed"], r["settings"], r["output"]) for r in lines] == [
        ("counter", 0, {"temperature": 1.0}, "0:hello:1.0"),
        ("counter", 1, {"temperature": 1.0}, "1:hello:1.0"),
        ("counter", 0, {"temperature": 0.5}, "0:hello:0.5"),
    ]
    assert lines[0]["messages"] == HELLO and lines[0]["key"] == call_key("counter", {"temperature": 1.0}, HELLO, 0)
    # without a client, model and settings come from the file when it holds one of each; here two settings
    bare = RecordedClient(None, path, "replay", settings={"temperature": 1.0})
    for replayer in (RecordedClient(Unreachable(), path, "replay"), bare):
        again = [replayer.complete(HELLO, seed=s) for s in (0, 1)] + [replayer.complete(HELLO, seed=0, temperature=0.5)]
        assert again == live and replayer.replayed == 3 and replayer.model_calls == 0


def test_a_missing_call_names_the_model_the_seed_and_the_message(tmp_path):
    path = tmp_path / "calls.jsonl"
    RecordedClient(Counter(), path, "record").complete(HELLO, seed=0)
    replayer = RecordedClient(None, path, "replay")
    with pytest.raises(MissingModelCall) as err:
        replayer.complete(HELLO, seed=9)
    text = str(err.value)
    assert isinstance(err.value, RecordError) and isinstance(err.value, TurngymError)
    assert "'counter'" in text and "seed 9" in text and repr(("hello " * 30)[:80]) in text
    assert call_key("counter", {"temperature": 1.0}, HELLO, 9) in text and str(path) in text


def test_auto_mode_records_only_what_is_missing_and_skips_a_torn_line(tmp_path):
    path = tmp_path / "calls.jsonl"
    model = Counter()
    RecordedClient(model, path, "record").complete(HELLO, seed=0)
    with open(path, "a") as f:
        f.write('{"format": "turngym.model_call/1", "key": "to')  # a writer killed mid-line
    with pytest.warns(UserWarning, match="torn or malformed"):
        auto = RecordedClient(model, path, "auto")
    assert auto.complete_batch([HELLO, HELLO], seeds=[0, 1]) == ["0:hello:1.0", "1:hello:1.0"]
    assert (model.calls, auto.replayed, auto.model_calls) == (2, 1, 1)
    with pytest.warns(UserWarning):
        assert RecordedClient(None, path, "replay").complete(HELLO, seed=1) == "1:hello:1.0"


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="expected mode one of"):
        RecordedClient(Counter(), tmp_path / "c.jsonl", "play")
    with pytest.raises(ValueError, match="only mode 'replay' runs without one"):
        RecordedClient(None, tmp_path / "c.jsonl", "auto")
    with pytest.raises(TypeError, match="expected a model client"):
        RecordedClient("gpt", tmp_path / "c.jsonl")
    other = Counter()
    other.model_name = "other"
    RecordedClient(Counter(), tmp_path / "c.jsonl", "record").complete(HELLO, seed=0)
    RecordedClient(other, tmp_path / "c.jsonl", "record").complete(HELLO, seed=0)
    with pytest.raises(ValueError, match="holds 2 different model values"):
        RecordedClient(None, tmp_path / "c.jsonl", "replay")
    named = RecordedClient(None, tmp_path / "c.jsonl", "replay", model_name="other", settings={"temperature": 1.0})
    assert named.complete(HELLO, seed=0) == "0:hello:1.0"


def test_a_tiny_hf_client_samples_the_same_reply_for_the_same_seed():
    tokenizer = tiny_tokenizer("bytes")
    client = HFClient(tiny_model(tokenizer, seed=1), tokenizer, model_name="tiny", max_new_tokens=12)
    replies = [client.complete(HELLO, seed=s) for s in (0, 0, 1, 2, 3)]
    assert replies[0] == replies[1] and len(set(replies[1:])) > 1
    assert client.complete(HELLO, seed=5, temperature=0) == client.complete(HELLO, seed=6, temperature=0)
    with pytest.raises(TypeError, match="expected settings among"):
        client.complete(HELLO, seed=0, top_p=0.5)


class SeedServer:
    """An OpenAI-compatible ``/v1/chat/completions`` that scores 'Score: (seed % 10)' and keeps each request body."""

    def __init__(self):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                text = f"Score: {body.get('seed', 0) % 10}"
                data = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = SeedServer()
    yield s
    s.close()


def test_an_endpoint_client_sends_the_seed_and_is_replayed_without_the_server(server, tmp_path):
    client = EndpointClient(server.url, "user-model", temperature=0.7, max_tokens=20)
    recorder = RecordedClient(client, tmp_path / "calls.jsonl", "record")
    assert [recorder.complete(HELLO, seed=s) for s in (13, 4)] == ["Score: 3", "Score: 4"]
    assert [(r["model"], r["seed"], r["temperature"], r["max_tokens"]) for r in server.requests] == [
        ("user-model", 13, 0.7, 20),
        ("user-model", 4, 0.7, 20),
    ]
    server.close()
    replayer = RecordedClient(None, tmp_path / "calls.jsonl", "replay")
    assert [replayer.complete(HELLO, seed=s) for s in (13, 4)] == ["Score: 3", "Score: 4"]


def guess_contexts(n=4):
    contexts = []
    for seed in range(n):
        env = turngym.make("turngym/GuessNumber-v0", high=50)
        env.reset(seed=seed)
        env.step(f"<guess>{seed + 20}</guess>")
        contexts.append(env.last_context)
    return contexts


def test_an_endpoint_judge_replayed_from_its_record_gives_the_same_scores(server, tmp_path):
    path = tmp_path / "judge.jsonl"
    contexts = guess_contexts()
    judge = LLMJudge.from_endpoint(server.url, "judge-model", record=path, seed=5)
    scores = judge.score_batch(contexts) + judge.score_batch(contexts[:2])
    assert len(server.requests) == 6 and len(set(scores)) > 1  # the seed reached the server
    server.close()
    replayed = LLMJudge(RecordedClient(None, path, "replay"), seed=5)
    assert replayed.score_batch(contexts) + replayed.score_batch(contexts[:2]) == scores
    with pytest.raises(MissingModelCall, match="'judge-model'"):
        replayed.score_batch(contexts[:1])  # a third call: never recorded


def test_a_sampling_hf_judge_gives_the_same_scores_live_and_replayed(tmp_path):
    tokenizer = tiny_tokenizer("words", ["Score"])
    model = tiny_model(tokenizer, seed=2)
    contexts = guess_contexts()

    def judge(**kwargs):
        return LLMJudge.from_hf(model, tokenizer, max_new_tokens=6, max_prompt_tokens=96, temperature=1.0, **kwargs)

    recorded = judge(record=tmp_path / "judge.jsonl", record_mode="record")
    scores = recorded.score_batch(contexts)
    live = judge()
    assert live.score_batch(contexts) == scores and live.failures == recorded.failures
    replayed = LLMJudge(RecordedClient(None, tmp_path / "judge.jsonl", "replay"))  # no model anywhere
    assert replayed.score_batch(contexts) == scores and replayed.failures == recorded.failures
    assert replayed.backend.replayed == 4 and len((tmp_path / "judge.jsonl").read_text().splitlines()) == 4
