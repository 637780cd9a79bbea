"""``LLMJudge``: the judge hook backed by a local HF model or an OpenAI-compatible endpoint.

``JudgeHook`` builds the rubric prompt, parses scores and records failures; this module supplies
``generate``. A local model answers all prompts of a ``score_batch`` in one batched sampling call
(``StepSampler``: one prefill, one decode loop). An endpoint gets one ``POST /v1/chat/completions``
per prompt (the chat API takes one conversation per request) through ``OpenAIPolicy``, sent
concurrently, with timeouts and retries. A request that still fails, or an answer without a score,
is a recorded failure (score None, "not applicable"), never an exception. Both backends are model
clients (``envs.model_calls``): ``record=PATH`` stores every reply keyed by the call, and
``LLMJudge(RecordedClient(None, PATH, "replay"))`` scores again from the record, without the model.

>>> import turngym
>>> env = turngym.make("turngym/GuessNumber-v0")
>>> _ = env.reset(seed=0); _ = env.step("<guess>50</guess>")
>>> judge = LLMJudge(lambda prompts: ["Score: 8" for _ in prompts])  # any backend(prompts) -> replies
>>> judge.score_batch([env.last_context])
[0.8]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from turngym.envs.hooks.judge import DEFAULT_RUBRIC, JudgeHook
from turngym.envs.messages import Message
from turngym.envs.model_calls import EndpointClient, Mode, RecordedClient, call_seed

Generate = Callable[[Sequence[list[Message]]], list[Any]]


class JudgeRequestError:
    """A reply that never came (HTTP error, timeout, bad JSON). Scores None; its repr is the failure."""

    def __init__(self, message: str):
        self.message = message

    def __repr__(self) -> str:
        return f"judge request failed: {self.message}"


class LLMJudge(JudgeHook):
    """A judge hook whose replies come from ``backend(prompts) -> list[str]`` (one batched call).

    Build it with ``LLMJudge.from_hf(model, tokenizer)`` or ``LLMJudge.from_endpoint(url, model)``;
    any callable with that signature works too, and so does a model client with
    ``complete_batch(prompts, *, seeds)`` (a ``RecordedClient``): call ``c`` sends prompt ``i`` with
    ``call_seed(seed, c, i)``. ``failures`` keeps every unparseable answer and
    every failed request; ``calls`` counts backend calls and ``prompts_scored`` the prompts.
    """

    def __init__(
        self,
        backend: Generate,
        *,
        name: str = "judge",
        rubric: str = DEFAULT_RUBRIC,
        scale: float = 10.0,
        history_messages: int = 6,
        seed: int = 0,
    ):
        if not callable(backend) and not hasattr(backend, "complete_batch"):
            raise TypeError(
                f"expected a callable backend(prompts) -> list[str] or a model client with complete_batch, "
                f"got {type(backend).__name__}"
            )
        super().__init__(name=name, rubric=rubric, scale=scale, history_messages=history_messages)
        self.backend = backend
        self.seed = seed
        self.calls = 0
        self.prompts_scored = 0

    def generate(self, prompts: Sequence[list[Message]]) -> list[Any]:
        if not prompts:
            return []
        call, self.calls = self.calls, self.calls + 1
        self.prompts_scored += len(prompts)
        if hasattr(self.backend, "complete_batch"):
            return self.backend.complete_batch(prompts, seeds=[call_seed(self.seed, call, i) for i in range(len(prompts))])
        return self.backend(prompts)

    @classmethod
    def from_hf(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        rubric: str = DEFAULT_RUBRIC,
        name: str = "judge",
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        max_prompt_tokens: int | None = None,
        seed: int = 0,
        record: str | os.PathLike[str] | None = None,
        record_mode: Mode = "auto",
        **kwargs: Any,
    ) -> LLMJudge:
        """A judge on a local transformers model: every prompt of a batch in one sampling call.

        ``temperature=0`` decodes greedily; ``max_prompt_tokens`` keeps the end of longer prompts;
        ``record``: a JSONL file of the judge's calls (``RecordedClient`` in ``record_mode``).
        """
        backend = HFJudgeBackend(
            model,
            tokenizer,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            max_prompt_tokens=max_prompt_tokens,
            seed=seed,
        )
        client = backend if record is None else RecordedClient(backend, record, record_mode)
        return cls(client, name=name, rubric=rubric, seed=seed, **kwargs)

    @classmethod
    def from_endpoint(
        cls,
        base_url: str,
        model: str,
        *,
        rubric: str = DEFAULT_RUBRIC,
        name: str = "judge",
        api_key: str | None = None,
        max_tokens: int = 32,
        temperature: float = 0.0,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_concurrency: int = 8,
        record: str | os.PathLike[str] | None = None,
        record_mode: Mode = "auto",
        **kwargs: Any,
    ) -> LLMJudge:
        """A judge on an OpenAI-compatible server (``base_url`` like ``http://host:8000`` or ``.../v1``).

        ``record``: a JSONL file of the judge's calls (``RecordedClient`` in ``record_mode``).
        """
        backend = EndpointJudgeBackend(
            base_url,
            model,
            api_key=api_key,
            max_tokens=max_tokens,
            temperature=temperature,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_concurrency=max_concurrency,
        )
        client = backend if record is None else RecordedClient(backend, record, record_mode)
        return cls(client, name=name, rubric=rubric, **kwargs)


class HFJudgeBackend:
    """Renders each prompt with the tokenizer's chat template and samples all replies in one call.

    A model client: ``complete_batch(prompts, seeds=)`` samples the batch from one generator seeded
    by its first seed; calling it with prompts alone uses ``seed``, then ``seed + 1``, ...
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        max_prompt_tokens: int | None = None,
        seed: int = 0,
    ):
        from turngym.agents.sampler import StepSampler

        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("the judge's tokenizer has no chat template; expected a chat model's tokenizer")
        self.tokenizer = tokenizer
        self.max_prompt_tokens = max_prompt_tokens
        self.temperature = temperature
        self.sampler = StepSampler(model, tokenizer, max_new_tokens=max_new_tokens, temperature=temperature or 1.0)
        self.seed = seed
        self.model_name = getattr(model.config, "name_or_path", "") or type(model).__name__
        self.settings = {"max_new_tokens": max_new_tokens, "temperature": temperature, "max_prompt_tokens": max_prompt_tokens}

    def encode(self, prompt: list[Message]) -> list[int]:
        text = self.tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if self.max_prompt_tokens is not None and len(ids) > self.max_prompt_tokens:
            ids = ids[-self.max_prompt_tokens :]
        return ids

    def __call__(self, prompts: Sequence[list[Message]]) -> list[str]:
        self.seed += 1
        return self.complete_batch(prompts, seeds=[self.seed - 1] * len(prompts))

    def complete_batch(self, prompts: Sequence[list[Message]], *, seeds: Sequence[int]) -> list[str]:
        import torch

        ids = [self.encode(p) for p in prompts]
        if self.temperature == 0.0:
            return [sample.text for sample in self.sampler.greedy(ids)]
        device = getattr(self.sampler, "device", None) or next(self.sampler.model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(seeds[0])
        return [group[0].text for group in self.sampler.sample(ids, k=1, generator=generator)]


class EndpointJudgeBackend(EndpointClient):
    """One ``POST /v1/chat/completions`` per prompt through ``OpenAIPolicy`` (concurrent, timeouts, retries
    with backoff on connection errors, timeouts, 429 and 5xx); a request that still fails, or a reply
    that is not text, comes back as a ``JudgeRequestError``.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        max_tokens: int = 32,
        temperature: float = 0.0,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_concurrency: int = 8,
    ):
        super().__init__(
            base_url,
            model,
            api_key=api_key,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            concurrency=max_concurrency,
        )

    def __call__(self, prompts: Sequence[list[Message]]) -> list[str | JudgeRequestError]:
        return self.complete_batch(prompts, seeds=[None] * len(prompts))

    def complete_batch(self, prompts: Sequence[list[Message]], *, seeds: Sequence[int | None]) -> list[str | JudgeRequestError]:
        """One request per prompt (``seed`` sent when given), ``max_concurrency`` at a time."""
        if len(prompts) == 1:
            return [self.complete(prompts[0], seed=seeds[0])]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts))) as pool:
            return list(pool.map(lambda p, s: self.complete(p, seed=s), prompts, seeds))

    def complete(self, prompt: list[Message], *, seed: int | None = None) -> str | JudgeRequestError:  # type: ignore[override]
        """One chat completion: the reply text, or a ``JudgeRequestError`` after the retries."""
        from turngym.agents.openai_policy import PolicyServerError

        try:
            return super().complete(prompt, seed=seed)
        except PolicyServerError as exc:
            return JudgeRequestError(str(exc))
