"""Model calls made by an env (user simulators, the LLM judge): one client interface, recorded and replayed.

A ``ModelClient`` answers ``complete(messages, *, seed, **settings) -> str``: the reply to a chat
conversation, sampled reproducibly from ``seed``. ``HFClient`` runs a local transformers model
(through ``HFPolicy``, sampling from a ``torch.Generator`` seeded by the call's seed);
``EndpointClient`` an OpenAI-compatible server (through ``OpenAIPolicy``, ``seed`` sent in the
request). ``RecordedClient`` wraps any client: each call is keyed by the sha256 of (model name,
settings, messages, seed) and stored as a JSONL line, so a replayed run answers every call from
the file, without the model, and a call missing from it raises ``MissingModelCall`` naming it.

>>> class Upper:  # any object with model_name, settings and complete() is a client
...     model_name, settings = "upper", {}
...     def complete(self, messages, *, seed, **settings):
...         return messages[-1]["content"].upper()
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "calls.jsonl")
>>> RecordedClient(Upper(), path, mode="record").complete([{"role": "user", "content": "hi"}], seed=1)
'HI'
>>> RecordedClient(None, path, mode="replay").complete([{"role": "user", "content": "hi"}], seed=1)
'HI'
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from turngym.envs.errors import RecordError
from turngym.envs.messages import Message
from turngym.envs.recording import append_jsonl, read_jsonl

FORMAT = "turngym.model_call/1"
Mode = Literal["record", "replay", "auto"]
MODES = ("record", "replay", "auto")


@runtime_checkable
class ModelClient(Protocol):
    """A chat model: ``model_name`` and ``settings`` name it in record keys; ``complete`` samples from ``seed``.

    A client may also offer ``complete_batch(conversations, *, seeds, **settings) -> list`` to
    answer many conversations in one call (``complete_batch`` below falls back to ``complete``).
    """

    model_name: str
    settings: Mapping[str, Any]

    def complete(self, messages: Sequence[Message], *, seed: int, **settings: Any) -> str: ...


class MissingModelCall(RecordError, KeyError):
    """A replayed run made a model call that the record does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def call_seed(*parts: int) -> int:
    """A seed in [0, 2**31) derived from integers (an episode's seed and a turn, a judge's seed and a call)."""
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        raise TypeError(f"expected integer seed parts, got {parts!r}")
    digest = hashlib.sha256(json.dumps(list(parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def call_key(model_name: str, settings: Mapping[str, Any], messages: Sequence[Message], seed: int) -> str:
    """The sha256 of a canonical JSON of the call: equal calls give equal keys whatever the dict order."""
    call = {"model": model_name, "settings": dict(settings), "messages": list(messages), "seed": seed}
    text = json.dumps(call, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def complete_batch(client: Any, conversations: Sequence[Sequence[Message]], seeds: Sequence[int], **settings: Any) -> list:
    """One reply per conversation: the client's own ``complete_batch`` when it has one, else ``complete`` each."""
    if len(seeds) != len(conversations):
        raise ValueError(f"expected one seed per conversation ({len(conversations)}), got {len(seeds)}")
    if hasattr(client, "complete_batch"):
        return list(client.complete_batch(conversations, seeds=seeds, **settings))
    return [client.complete(c, seed=s, **settings) for c, s in zip(conversations, seeds, strict=True)]


class RecordedClient:
    """Records a client's calls to a JSONL file, or answers them from it.

    ``mode``: ``"record"`` calls the model every time and appends each reply; ``"replay"`` answers
    only from the file (``client`` may be None; then ``model_name`` and ``settings`` default to the
    file's, when it holds one model) and raises ``MissingModelCall`` for a call it lacks;
    ``"auto"`` replays what the file holds and records the rest. Only text replies are recorded (a
    failed request, such as the judge's ``JudgeRequestError``, is passed through and not stored).
    ``model_calls`` counts calls sent to the model, ``replayed`` those answered from the file.
    """

    def __init__(
        self,
        client: Any,
        path: str | os.PathLike[str],
        mode: Mode = "auto",
        *,
        model_name: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"expected mode one of {MODES}, got {mode!r}")
        if client is None and mode != "replay":
            raise ValueError(f"expected a model client for mode {mode!r}; only mode 'replay' runs without one")
        if client is not None and not hasattr(client, "complete") and not hasattr(client, "complete_batch"):
            raise TypeError(f"expected a model client with complete(messages, *, seed), got {type(client).__name__}")
        self.client = client
        self.path = Path(path)
        self.mode = mode
        self.records = _read_calls(self.path)
        if client is not None:
            model_name = model_name or client.model_name
            settings = client.settings if settings is None else settings
        self.model_name: str = model_name or self._only("model")
        self.settings = dict(self._only("settings") if settings is None else settings)
        self.model_calls = 0
        self.replayed = 0

    def complete(self, messages: Sequence[Message], *, seed: int, **settings: Any) -> str:
        return self.complete_batch([messages], seeds=[seed], **settings)[0]

    def complete_batch(self, conversations: Sequence[Sequence[Message]], *, seeds: Sequence[int], **settings: Any) -> list:
        """Replies in order; calls missing from the record go to the model in one batch (record and auto)."""
        used = {**self.settings, **settings}
        keys = [call_key(self.model_name, used, c, s) for c, s in zip(conversations, seeds, strict=True)]
        replies: list[Any] = [None] * len(keys)
        todo = []
        for i, key in enumerate(keys):
            if self.mode != "record" and key in self.records:
                replies[i] = self.records[key]["output"]
                self.replayed += 1
            elif self.mode == "replay":
                raise MissingModelCall(self._missing(conversations[i], seeds[i], key))
            else:
                todo.append(i)
        if todo:
            answers = complete_batch(self.client, [conversations[i] for i in todo], [seeds[i] for i in todo], **settings)
            self.model_calls += len(todo)
            for i, answer in zip(todo, answers, strict=True):
                replies[i] = answer
                if isinstance(answer, str):
                    record = {"format": FORMAT, "key": keys[i], "model": self.model_name, "settings": used}
                    record.update(messages=list(conversations[i]), seed=seeds[i], output=answer)
                    append_jsonl(self.path, record)
                    self.records[keys[i]] = record
        return replies

    def _missing(self, messages: Sequence[Message], seed: int, key: str) -> str:
        last = str((messages[-1].get("content") or "") if messages else "")[:80]
        return (
            f"no recorded reply in {self.path} for the call to model {self.model_name!r} with seed {seed} "
            f"whose last message starts {last!r} (key {key}); record it first (mode 'record' or 'auto' with the model)"
        )

    def _only(self, field: str) -> Any:
        values = {json.dumps(r[field], sort_keys=True) for r in self.records.values()}
        if len(values) != 1:
            raise ValueError(
                f"expected {field} given for a replay without a client: {self.path} holds "
                f"{len(values)} different {field} values, so it cannot be inferred"
            )
        return json.loads(values.pop())


def _read_calls(path: Path) -> dict[str, dict[str, Any]]:
    """The records of a model-call file by key (the last line wins); a torn line is skipped with a warning."""
    if not path.exists():
        return {}
    return {record["key"]: record for record in read_jsonl(path, FORMAT) if "key" in record}


# ---- backends -------------------------------------------------------------------------------------


class HFClient:
    """A local transformers chat model through ``HFPolicy``; each call samples from its own seeded generator.

    ``temperature=0`` decodes greedily. Per-call settings may override ``temperature``,
    ``max_new_tokens`` and ``stop``. ``model_name`` defaults to the model's ``name_or_path``.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_name: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        stop: Sequence[str] = (),
    ):
        from turngym.agents.hf_policy import HFPolicy

        self.policy = HFPolicy(
            model, tokenizer, stop=stop, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k
        )
        self.model_name = model_name or getattr(model.config, "name_or_path", "") or type(model).__name__
        self.settings = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p, "top_k": top_k}
        self.settings["stop"] = list(stop)

    def complete(self, messages: Sequence[Message], *, seed: int, **settings: Any) -> str:
        import torch

        unknown = set(settings) - {"temperature", "max_new_tokens", "stop"}
        if unknown:
            raise TypeError(f"expected settings among temperature, max_new_tokens, stop; got {sorted(unknown)}")
        device = next(self.policy.model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(seed)
        traj = self.policy.start(list(messages))
        return self.policy.sample([traj], 1, generator=generator, **settings)[0][0].text


class EndpointClient:
    """An OpenAI-compatible ``/v1/chat/completions`` server through ``OpenAIPolicy``; ``seed`` goes in each request.

    Per-call settings replace request fields (``temperature``, ``max_tokens``...). A failed request
    raises ``PolicyServerError`` (infrastructure, not the simulated user).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        temperature: float = 1.0,
        max_tokens: int = 256,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
        concurrency: int = 8,
    ):
        from turngym.agents.openai_policy import OpenAIPolicy

        self.policy = OpenAIPolicy(
            base_url,
            model,
            api_key=api_key,
            timeout=timeout,
            max_retries=retries,
            backoff=backoff,
            temperature=temperature,
            max_tokens=max_tokens,
            concurrency=concurrency,
            server_extras=False,
        )
        self.url, self.max_concurrency = self.policy.url, concurrency
        self.model_name = model
        self.settings = {"temperature": temperature, "max_tokens": max_tokens}

    def complete(self, messages: Sequence[Message], *, seed: int, **settings: Any) -> str:
        from turngym.agents.openai_policy import PolicyServerError

        plain = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
        action = self.policy.complete_n(plain, 1, seed=seed, **settings)[0].action
        if not isinstance(action, str):
            raise PolicyServerError(f"expected a text reply from {self.policy.url}, got a message with tool calls")
        return action

    def close(self) -> None:
        self.policy.close()
