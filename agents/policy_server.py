"""A local transformers model behind an OpenAI-compatible HTTP API (``turngym serve policy``).

``POST /v1/chat/completions`` samples through ``HFPolicy`` (chat template, stop strings, ``n``
samples from one shared prefix encoding, per-token log-probs); ``POST /v1/completions`` takes the
prompt as text or, as vLLM does, as token ids, and with ``return_token_ids`` answers each choice's
sampled ``token_ids`` and the ``prompt_token_ids`` (token in, token out, for ``OpenAITokenPolicy``).
``GET /v1/models`` lists the one model, ``GET /health`` answers ok. Concurrent requests with the
same settings are sampled together (one batch, one model). Beyond OpenAI's fields it reads vLLM's
``include_stop_str_in_output`` (keep the stop string in the text), ``return_tokens_as_token_ids``
(log-prob entries name tokens as ``token_id:N``) and ``return_token_ids``. Log-probs are the
sampling ones, under ``log_softmax(logits / temperature)``.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from concurrent.futures import Future
from itertools import accumulate
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from turngym.agents.chat_tokens import ChatTemplateError, prompt_ids
from turngym.agents.hf_policy import HFPolicy
from turngym.agents.sampler import Sample
from turngym.tools.background_server import BackgroundServer


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat completion request that the server reads (others are ignored)."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=64)
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    logprobs: bool = False
    include_stop_str_in_output: bool = False
    return_tokens_as_token_ids: bool = False


class CompletionRequest(BaseModel):
    """The fields of a completion request that the server reads: ``prompt`` is text or token ids (one prompt)."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    prompt: list[int] | str | list[Any]
    temperature: float = Field(1.0, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=64)
    seed: int | None = None
    logprobs: int | None = Field(None, ge=0)
    include_stop_str_in_output: bool = False
    return_tokens_as_token_ids: bool = False
    return_token_ids: bool = False


class Batcher:
    """Collects concurrent requests for ``window_s`` and samples those with the same settings in one call.

    Requests that carry a seed run alone, so that a seed gives the same answer whatever else is
    being served. One worker thread owns the model.
    """

    def __init__(self, policy: HFPolicy, *, max_batch: int = 32, window_s: float = 0.005):
        self.policy, self.max_batch, self.window_s = policy, max_batch, window_s
        self.queue: queue.Queue[Any] = queue.Queue()
        self.requests = self.calls = 0  # requests answered and sampler calls made, for /health
        self.thread = threading.Thread(target=self._run, name="policy-batcher", daemon=True)
        self.thread.start()

    def submit(
        self, prompt: list[int], n: int, *, max_new_tokens: int, stop: list[str], temperature: float, seed: int | None
    ) -> list[Sample]:
        """Block until the samples of one prompt are ready (errors of the sampler are raised here)."""
        future: Future[list[Sample]] = Future()
        self.queue.put(((n, max_new_tokens, tuple(stop), temperature, seed), prompt, future))
        return future.result()

    def close(self) -> None:
        self.queue.put(None)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            batch = [item]
            deadline = time.monotonic() + self.window_s
            while len(batch) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                try:
                    nxt = self.queue.get(timeout=left)
                except queue.Empty:
                    break
                if nxt is None:
                    self.queue.put(None)
                    break
                batch.append(nxt)
            groups: dict[Any, list[Any]] = {}
            for key, prompt, future in batch:
                groups.setdefault(key if key[-1] is None else (key, id(future)), []).append((key, prompt, future))
            for members in groups.values():
                self._sample(members)

    def _sample(self, members: list[Any]) -> None:
        (n, limit, stop, temperature, seed), _, _ = members[0]
        device = self.policy.model.device
        generator = torch.Generator(device).manual_seed(seed) if seed is not None else None
        try:
            results = self.policy.sampler.sample(
                [p for _, p, _ in members], n, generator=generator, max_new_tokens=limit, stop=stop, temperature=temperature
            )
        except Exception as exc:  # a bad request fails its own group; the worker goes on
            for _, _, future in members:
                future.set_exception(exc)
            return
        self.requests += len(members)
        self.calls += 1
        for (_, _, future), samples in zip(members, results, strict=True):
            future.set_result(samples)


def create_app(policy: HFPolicy, model_name: str, *, max_tokens_limit: int = 4096, max_batch: int = 32) -> Any:
    """The FastAPI app serving ``policy`` as ``model_name`` (concurrent requests sampled in batches)."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    app = FastAPI(title="turngym policy server")
    batcher = Batcher(policy, max_batch=max_batch)
    app.state.batcher = batcher

    def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Any, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors())
        return error(400, f"invalid request: {problems}")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "requests": batcher.requests, "sampler_calls": batcher.calls}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": 0, "owned_by": "turngym"}]}

    def check(model: str | None, max_tokens: int | None, stop: str | list[str] | None) -> tuple[int, list[str]] | JSONResponse:
        """The request's token limit and stop strings, or the error answer for a wrong model or limit."""
        if model not in (None, model_name):
            return error(404, f"model {model!r} is not served here; this server serves {model_name!r}", "not_found_error")
        limit = max_tokens or policy.sampler.max_new_tokens
        if limit > max_tokens_limit:
            return error(400, f"expected max_tokens <= {max_tokens_limit}, got {limit}")
        return limit, [stop] if isinstance(stop, str) else list(stop or policy.sampler.stop)

    def sample(prompt: list[int], request: ChatRequest | CompletionRequest, limit: int, stop: list[str]) -> Any:
        try:
            return batcher.submit(
                prompt, request.n, max_new_tokens=limit, stop=stop, temperature=request.temperature, seed=request.seed
            )
        except ValueError as exc:
            return error(400, str(exc))

    def answer(kind: str, prompt: list[int], samples: list[Sample], choices: list[dict[str, Any]]) -> dict[str, Any]:
        completion = sum(len(s.token_ids) for s in samples)
        return {
            "id": f"{'chatcmpl' if kind == 'chat.completion' else 'cmpl'}-{uuid.uuid4().hex[:24]}",
            "object": kind,
            "created": int(time.time()),
            "model": model_name,
            "choices": choices,
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": completion, "total_tokens": len(prompt) + completion},
        }

    @app.post("/v1/chat/completions")
    def chat(request: ChatRequest) -> Any:
        checked = check(request.model, request.max_completion_tokens or request.max_tokens, request.stop)
        if isinstance(checked, JSONResponse):
            return checked
        limit, stop = checked
        try:
            prompt = prompt_ids(policy.tokenizer, request.messages, request.tools or policy.tools, tool_role=policy.tool_role)
        except (ChatTemplateError, ValueError) as exc:
            return error(400, str(exc))
        samples = sample(prompt, request, limit, stop)
        if isinstance(samples, JSONResponse):
            return samples
        choices = [_choice(i, s, stop, request, policy.tokenizer) for i, s in enumerate(samples)]
        return answer("chat.completion", prompt, samples, choices)

    @app.post("/v1/completions")
    def completions(request: CompletionRequest) -> Any:
        checked = check(request.model, request.max_tokens, request.stop)
        if isinstance(checked, JSONResponse):
            return checked
        limit, stop = checked
        if request.logprobs:
            return error(400, f"this server returns sampled tokens' log-probs only: expected logprobs 0, got {request.logprobs}")
        if request.top_p is not None and request.top_p != policy.sampler.top_p:
            served = policy.sampler.top_p
            return error(400, f"this server samples with top_p={served}: expected that or none, got {request.top_p}")
        if isinstance(request.prompt, str):
            prompt = list(policy.tokenizer(request.prompt)["input_ids"])
        elif all(isinstance(t, int) for t in request.prompt):
            prompt = list(request.prompt)
        else:
            return error(400, f"expected one prompt per request (a string or a list of token ids), got {request.prompt!r:.80}")
        samples = sample(prompt, request, limit, stop)
        if isinstance(samples, JSONResponse):
            return samples
        choices = [_completion_choice(i, s, stop, request, prompt, policy.tokenizer) for i, s in enumerate(samples)]
        return answer("text_completion", prompt, samples, choices)

    return app


def _cut(sample: Sample, stop: list[str], keep_stop: bool) -> tuple[str, str | None]:
    """The sample's text cut at the stop string it ended with (kept when ``keep_stop``), and that string."""
    text, matched = sample.text, None
    if sample.finish_reason == "stop":
        at, matched = min(((text.find(s), s) for s in stop if s in text), default=(len(text), None))
        text = text[: at + len(matched)] if matched and keep_stop else text[:at]
    return text, matched


def _choice(index: int, sample: Sample, stop: list[str], request: ChatRequest, tokenizer: Any) -> dict[str, Any]:
    text, matched = _cut(sample, stop, request.include_stop_str_in_output)
    choice: dict[str, Any] = {
        "index": index,
        "message": {"role": "assistant", "content": text},
        "finish_reason": "length" if sample.finish_reason == "length" else "stop",
        "stop_reason": matched,
        "logprobs": None,
    }
    if request.logprobs:
        choice["logprobs"] = {
            "content": [
                {
                    "token": f"token_id:{t}" if request.return_tokens_as_token_ids else tokenizer.decode([t]),
                    "logprob": lp,
                    "bytes": list(tokenizer.decode([t]).encode()),
                    "top_logprobs": [],
                }
                for t, lp in zip(sample.token_ids, sample.logprobs, strict=True)
            ]
        }
    return choice


def _completion_choice(
    index: int, sample: Sample, stop: list[str], request: CompletionRequest, prompt: list[int], tokenizer: Any
) -> dict[str, Any]:
    """One choice in vLLM's completion format; ``token_ids`` are every sampled token, the stop or eos token included."""
    text, matched = _cut(sample, stop, request.include_stop_str_in_output)
    choice: dict[str, Any] = {
        "index": index,
        "text": text,
        "logprobs": None,
        "finish_reason": "length" if sample.finish_reason == "length" else "stop",
        "stop_reason": matched,
    }
    if request.logprobs is not None:
        pieces = [tokenizer.decode([t]) for t in sample.token_ids]
        choice["logprobs"] = {
            "tokens": [f"token_id:{t}" for t in sample.token_ids] if request.return_tokens_as_token_ids else pieces,
            "token_logprobs": list(sample.logprobs),
            "top_logprobs": None,
            "text_offset": [0, *accumulate(len(p) for p in pieces[:-1])] if pieces else [],
        }
    if request.return_token_ids:
        choice["token_ids"] = list(sample.token_ids)
        choice["prompt_token_ids"] = list(prompt)
    return choice


class PolicyServer(BackgroundServer):
    """``create_app`` served by uvicorn in a background thread; ``start()`` returns the bound port (0: a free one)."""

    label = "policy server"

    def __init__(self, policy: HFPolicy, model_name: str, host: str = "127.0.0.1", port: int = 0, **app_options: Any):
        super().__init__(create_app(policy, model_name, **app_options), host, port, graceful_timeout_s=5.0)

    def start(self, timeout: float = 30.0) -> int:
        return super().start(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish, release the port, stop the batcher. Idempotent."""
        super().stop(timeout)
        self.app.state.batcher.close()


def serve(
    model_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, *, model_name: str | None = None, **policy_kwargs: Any
) -> None:
    """Load ``model_dir`` with ``HFPolicy.from_pretrained`` and serve it until SIGINT/SIGTERM.

    Prints one line with the URL once the server accepts connections (``port=0`` picks a free port).
    """
    policy = HFPolicy.from_pretrained(model_dir, **policy_kwargs)
    name = model_name or Path(model_dir).name
    server = PolicyServer(policy, name, host, port)
    server.run_until_signal(lambda: f"turngym policy server: model {name!r} from {model_dir} at {server.url}/v1 (Ctrl+C to stop)")
