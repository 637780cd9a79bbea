"""A policy served over HTTP by any OpenAI-compatible chat endpoint (vLLM, SGLang, ``turngym serve policy``).

One ``POST {base_url}/v1/chat/completions`` per conversation, ``concurrency`` at a time, with
retries and exponential backoff on connection errors, timeouts, 429 and 5xx answers. An assistant
message with ``tool_calls`` comes back as a message dict (the env's parsers read it); plain text as
a string. With ``logprobs=True`` the sampled tokens' log-probs come back too, and their ids when
the server names tokens as ``token_id:N`` (vLLM's ``return_tokens_as_token_ids``, which
``turngym serve policy`` honours as well). Its trajectories hold messages; for the exact token ids a
trainer needs (ids in and out over ``/v1/completions``, nothing re-tokenised) use ``OpenAITokenPolicy``.

>>> policy = OpenAIPolicy("http://127.0.0.1:8000", "smollm2", stop=["</answer>"])  # doctest: +SKIP
>>> policy.act_batch([[{"role": "user", "content": "2+2? Reply <answer>N</answer>."}]])[0].action  # doctest: +SKIP
'<answer>4</answer>'
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from turngym.agents.base import MessagePolicy, PolicyOutput, output_sample
from turngym.agents.trajectory import Sample, TokenTrajectory
from turngym.envs.messages import Action, Message
from turngym.tools.http_retry import RetriesExhausted, post_retrying

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_TOKEN_ID = re.compile(r"token_id:(\d+)")


class PolicyServerError(RuntimeError):
    """The policy's server could not be reached or answered with an error (infrastructure, not the agent)."""


class OpenAIPolicy:
    """Sample actions from an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Arguments:
        base_url: the server, e.g. ``http://127.0.0.1:8000`` (a trailing ``/v1`` is accepted).
        model: the model name the server expects.
        api_key: sent as ``Authorization: Bearer ...`` when given.
        timeout: seconds per request; max_retries: retries after the first attempt (backoff
            ``backoff * 2**attempt`` seconds) on connection errors, timeouts, 408/409/429 and 5xx.
        temperature, max_tokens, stop, tools: sent with each request (``tools`` as OpenAI schemas).
        concurrency: requests in flight at once.
        logprobs: ask for the sampled tokens' log-probs (and their ids, see ``server_extras``).
        server_extras: also send ``include_stop_str_in_output`` and ``return_tokens_as_token_ids``
            (vLLM and ``turngym serve policy`` read them: the stop string stays in the action, so
            ``</answer>`` still closes the answer; tokens come back as ids). Turn off for servers
            that refuse unknown fields.
        extra_body: more fields merged into every request.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        temperature: float = 1.0,
        max_tokens: int = 256,
        stop: Sequence[str] | None = None,
        tools: Sequence[dict] | None = None,
        concurrency: int = 8,
        logprobs: bool = False,
        server_extras: bool = True,
        extra_body: dict[str, Any] | None = None,
        backoff: float = 0.5,
    ):
        if not isinstance(base_url, str) or not re.match(r"https?://[^/]", base_url):
            raise ValueError(f"expected base_url an http(s) URL such as 'http://127.0.0.1:8000', got {base_url!r}")
        for name, value, low in (("max_retries", max_retries, 0), ("concurrency", concurrency, 1), ("max_tokens", max_tokens, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"expected {name} an int >= {low}, got {value!r}")
        if not timeout > 0 or backoff < 0:
            raise ValueError(f"expected timeout > 0 and backoff >= 0, got {timeout!r} and {backoff!r}")
        root = base_url.rstrip("/")
        self.url = f"{root}/chat/completions" if root.endswith("/v1") else f"{root}/v1/chat/completions"
        self.model = model
        self.max_retries = max_retries
        self.backoff = backoff
        self.concurrency = concurrency
        self.body: dict[str, Any] = {"model": model, "temperature": temperature, "max_tokens": max_tokens}
        if stop:
            self.body["stop"] = list(stop)
        if tools:
            self.body["tools"] = list(tools)
        if logprobs:
            self.body["logprobs"] = True
        if server_extras:
            self.body["include_stop_str_in_output"] = True
            self.body["return_tokens_as_token_ids"] = True
        self.body.update(extra_body or {})
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers, limits=httpx.Limits(max_connections=concurrency))

    def act_batch(self, conversations: Sequence[Sequence[Message]]) -> list[PolicyOutput]:
        """One action per conversation; requests run ``concurrency`` at a time, answers keep the input order."""
        return self._map(self.complete, conversations)

    def complete(self, messages: Sequence[Message]) -> PolicyOutput:
        """One chat completion for one conversation (with retries)."""
        return self.complete_n(messages, 1)[0]

    def complete_n(self, messages: Sequence[Message], n: int, **overrides: Any) -> list[PolicyOutput]:
        """``n`` chat completions of one conversation in one request (with retries); ``overrides`` replace body fields."""
        body = {**self.body, **{k: v for k, v in overrides.items() if v is not None}, "messages": list(messages)}
        if n > 1:
            body["n"] = n
        data = self.post(body)
        outputs = parse_completions(data, self.url)
        if len(outputs) != n:
            raise PolicyServerError(f"expected {n} choices from {self.url}, got {len(outputs)}")
        return outputs

    # ---- the token protocol (TokenPolicy): trajectories of messages, token ids where the server names them ----
    def start(self, messages: Sequence[Message]) -> TokenTrajectory:
        return MessagePolicy.start(self, messages)

    def sample(
        self,
        trajs: Sequence[TokenTrajectory],
        k: int = 1,
        *,
        generator: Any = None,
        temperature: float | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> list[list[Sample]]:
        """k actions per trajectory: one request with ``n = k`` each (the server shares the prefix through its cache)."""
        overrides = {"temperature": temperature, "max_tokens": max_new_tokens, "stop": list(stop) if stop else None}
        groups = self._map(lambda c: self.complete_n(c, k, **overrides), [t.messages for t in trajs])
        return [[output_sample(out) for out in group] for group in groups]

    def append(self, traj: TokenTrajectory, sample: Sample) -> None:
        MessagePolicy.append(self, traj, sample)

    def observe(self, traj: TokenTrajectory, new_messages: Sequence[Message]) -> None:
        MessagePolicy.observe(self, traj, new_messages)

    def _map(self, fn: Any, conversations: Sequence[Sequence[Message]]) -> list[Any]:
        if len(conversations) <= 1:
            return [fn(c) for c in conversations]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(fn, conversations))

    def post(self, body: dict[str, Any], url: str | None = None) -> dict[str, Any]:
        """POST ``body`` to ``url`` (the chat endpoint by default); retry what may pass; else ``PolicyServerError`` naming it."""
        url = url or self.url
        try:
            response = post_retrying(
                self.client,
                url,
                body,
                retries=self.max_retries,
                backoff_s=self.backoff,
                retry=RETRY_STATUS.__contains__,
                describe=_error_text,
            )
        except RetriesExhausted as exc:
            raise PolicyServerError(f"POST {url} failed after {exc}") from None
        if response.status_code != 200:
            raise PolicyServerError(f"POST {url} failed with HTTP {response.status_code}: {_error_text(response)}")
        try:
            return response.json()
        except ValueError:
            raise PolicyServerError(f"{url} answered 200 with a body that is not JSON: {response.text[:200]!r}") from None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> OpenAIPolicy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def parse_completion(data: Any, url: str = "the server") -> PolicyOutput:
    """A chat completion (OpenAI format) -> the first choice's action, plus token ids and log-probs when present."""
    return parse_completions(data, url)[0]


def parse_completions(data: Any, url: str = "the server") -> list[PolicyOutput]:
    """Every choice of a chat completion, in order."""
    try:
        choices = data["choices"]
        if not isinstance(choices, list) or not choices:
            raise KeyError("choices")
        return [_parse_choice(choice, url) for choice in choices]
    except (KeyError, IndexError, TypeError):
        raise PolicyServerError(
            f"expected a chat completion with choices[i].message from {url}, got {json.dumps(data)[:200]}"
        ) from None


def _parse_choice(choice: Any, url: str) -> PolicyOutput:
    message = choice["message"]
    content = message.get("content") or ""
    action: Action = content
    if message.get("tool_calls"):
        action = {"role": "assistant", "content": content or None, "tool_calls": message["tool_calls"]}
    if isinstance(action, str):
        action = with_stop_string(action, choice)
    entries = ((choice.get("logprobs") or {}).get("content")) or []
    logprobs = [float(e["logprob"]) for e in entries] if entries else None
    ids = [_TOKEN_ID.fullmatch(str(e.get("token", ""))) for e in entries]
    token_ids = [int(m.group(1)) for m in ids] if entries and all(ids) else None
    return PolicyOutput(action=action, token_ids=token_ids, logprobs=logprobs)


def with_stop_string(text: str, choice: dict[str, Any]) -> str:
    """``text`` with the stop string that ended the choice put back where the server cut it off (the env needs it)."""
    stop = choice.get("stop_reason")
    if isinstance(stop, str) and choice.get("finish_reason") == "stop" and not text.endswith(stop):
        return text + stop
    return text


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and "message" in error:
        return str(error["message"])[:300]
    return json.dumps(data)[:300]
