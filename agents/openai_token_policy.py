"""Token in, token out through an OpenAI-compatible ``/v1/completions`` server (vLLM, ``turngym serve policy``).

The policy renders each trajectory into token ids locally, with the served model's tokenizer, exactly
as ``HFPolicy`` does (``TemplateTokenPolicy``: ``start``, ``append``, ``observe``). ``sample`` sends a
trajectory's ids as the ``prompt`` and gets back each choice's sampled ``token_ids`` and their
log-probs (vLLM's ``return_token_ids`` and ``logprobs=0``); ``observe`` appends the env's reply as the
template's tokens. Nothing sampled is decoded and encoded again, so a trainer sees the ids that were
sampled and the log-probs they were sampled with. The k candidates of one state are one request with
``n = k``: the server encodes the prompt once (vLLM's prefix cache, the turngym server's shared prefix).

vLLM answers ``token_ids`` from version 0.10.2 on, SGLang since its ``return_token_ids`` (PR #30917,
not tried here). vLLM reports the raw model's log-probs unless started with ``--logprobs-mode
processed_logprobs`` (at temperature 1 without top-p/top-k both are the sampling log-probs). A server
that answers without token ids is reported (``PolicyServerError``), never re-tokenised.

>>> policy = OpenAITokenPolicy("http://127.0.0.1:8000", "smollm2", tokenizer="models/smollm2")  # doctest: +SKIP
>>> traj = policy.start([{"role": "user", "content": "2+2?"}])  # doctest: +SKIP
>>> [s.token_ids for s in policy.sample([traj], 4)[0]]  # one request, n = 4  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from turngym.agents.chat_tokens import TemplateTokenPolicy, ToolRole
from turngym.agents.openai_policy import OpenAIPolicy, PolicyServerError, with_stop_string
from turngym.agents.trajectory import FinishReason, Sample, TokenTrajectory

SERVERS_WITH_TOKEN_IDS = "vLLM >= 0.10.2 or a recent SGLang (return_token_ids), or `turngym serve policy`"


class OpenAITokenPolicy(TemplateTokenPolicy, OpenAIPolicy):
    """A ``TokenPolicy`` whose samples come from a completions server as token ids with their log-probs.

    Arguments:
        base_url, model: the server and the model name it serves (as for ``OpenAIPolicy``).
        tokenizer: the served model's tokenizer, or the local folder holding it (nothing is downloaded);
            it must be the server's, since the ids mean nothing to another vocabulary.
        tools, tool_role: rendered by the local chat template, as in ``HFPolicy``.
        extra_body: more fields merged into every request (e.g. ``{"seed": 1}``).
        Other keyword arguments (``temperature``, ``max_tokens``, ``stop``, ``concurrency``, ``timeout``,
        ``max_retries``, ``api_key``) are ``OpenAIPolicy``'s; ``act_batch`` still uses chat completions.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        tokenizer: Any,
        tools: Sequence[dict] | None = None,
        tool_role: ToolRole = "template",
        extra_body: dict[str, Any] | None = None,
        **options: Any,
    ):
        OpenAIPolicy.__init__(self, base_url, model, tools=tools, logprobs=True, extra_body=extra_body, **options)
        TemplateTokenPolicy.__init__(self, load_tokenizer(tokenizer), tools, tool_role)
        self.completions_url = self.url.removesuffix("/chat/completions") + "/completions"
        self.completion_body: dict[str, Any] = {
            **{key: self.body[key] for key in ("model", "temperature", "max_tokens", "stop") if key in self.body},
            "logprobs": 0,  # the sampled token's log-prob, no alternatives
            "return_token_ids": True,
            "include_stop_str_in_output": True,
            **(extra_body or {}),
        }

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
        """k continuations of each trajectory: one request per trajectory with its ids as the prompt and ``n = k``.

        ``generator`` is not sent: the server draws with its own randomness (a ``seed`` in
        ``extra_body`` makes answers repeat).
        """
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"expected k an int >= 1, got {k!r}")
        self.check_awaiting(trajs)
        overrides = {"temperature": temperature, "max_tokens": max_new_tokens, "stop": list(stop) if stop else None}
        return self._map(lambda ids: self.complete_ids(ids, k, **overrides), [t.token_ids for t in trajs])

    def complete_ids(self, prompt: Sequence[int], n: int = 1, **overrides: Any) -> list[Sample]:
        """``n`` samples after the token ids ``prompt``, in one request; ``overrides`` replace body fields."""
        body = {**self.completion_body, **{k: v for k, v in overrides.items() if v is not None}, "prompt": list(prompt)}
        if n > 1:
            body["n"] = n
        samples = parse_token_completions(self.post(body, self.completions_url), self.completions_url)
        if len(samples) != n:
            raise PolicyServerError(f"expected {n} choices from {self.completions_url}, got {len(samples)}")
        return samples


def load_tokenizer(tokenizer: Any) -> Any:
    """A tokenizer object as it is; a path loads the tokenizer saved in that local folder."""
    if not isinstance(tokenizer, (str, Path)):
        return tokenizer
    folder = Path(tokenizer)
    if not folder.is_dir():
        raise FileNotFoundError(f"expected tokenizer a local folder with the served model's tokenizer, got {str(tokenizer)!r}")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"expected a tokenizer saved in {str(folder)!r}, but it did not load: {exc}") from None


def parse_token_completions(data: Any, url: str = "the server") -> list[Sample]:
    """Every choice of a completion, in index order, as a ``Sample`` with the server's token ids and log-probs."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
        raise PolicyServerError(f"expected a completion with choices from {url}, got {str(data)[:200]}")
    return [_token_sample(c, url) for c in sorted(choices, key=lambda c: c.get("index", 0))]


def _token_sample(choice: dict[str, Any], url: str) -> Sample:
    ids = choice.get("token_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(t, int) for t in ids):
        raise PolicyServerError(
            f"expected the sampled token ids in choices[i].token_ids from {url}, got {str(ids)[:80]} "
            f"(token in, token out needs a server that returns them: {SERVERS_WITH_TOKEN_IDS})"
        )
    logprobs = (choice.get("logprobs") or {}).get("token_logprobs")
    if not isinstance(logprobs, list) or len(logprobs) != len(ids) or not all(isinstance(x, (int, float)) for x in logprobs):
        raise PolicyServerError(
            f"expected one log-prob per sampled token in choices[i].logprobs.token_logprobs from {url} "
            f"({len(ids)} tokens), got {str(logprobs)[:80]}"
        )
    reason: FinishReason = "length" if choice.get("finish_reason") == "length" else "eos"
    if isinstance(choice.get("stop_reason"), str):
        reason = "stop"
    text = with_stop_string(str(choice.get("text") or ""), choice)
    return Sample(token_ids=list(ids), logprobs=[float(x) for x in logprobs], text=text, finish_reason=reason)
