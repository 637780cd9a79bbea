"""The policies the ``rollout`` and ``eval`` commands play: scripted (the env's oracle), random, hf or openai."""

from __future__ import annotations

from typing import Any

import typer

POLICY_HELP = "scripted (the env's oracle), random, hf (a local model folder) or openai (an endpoint)."
TOKENIZER_HELP = (
    "openai: the served model's tokenizer folder; token ids in and out over /v1/completions (exact ids and log-probs)."
)


def make_policy(
    kind: str,
    env_id: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    tokenizer: str | None = None,
    temperature: float = 1.0,
    max_new_tokens: int = 256,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> Any:
    """A policy of ``kind`` for ``env_id`` (random samples the env's own action space)."""
    if tokenizer and kind != "openai":
        raise typer.BadParameter(f"--tokenizer applies to --policy openai, got --policy {kind}")
    from turngym.agents import OraclePolicy, RandomPolicy

    if kind == "scripted":
        return OraclePolicy()
    if kind == "random":
        return RandomPolicy.for_env(env_id, seed=seed, **(env_kwargs or {}))
    if kind in ("hf", "openai"):
        return llm_policy(kind, model, base_url, temperature, max_new_tokens, tokenizer)
    raise typer.BadParameter(f"--policy must be scripted, random, hf or openai, got {kind!r}")


def llm_policy(
    kind: str, model: str | None, base_url: str | None, temperature: float, max_new_tokens: int, tokenizer: str | None = None
) -> Any:
    """An ``HFPolicy`` on a local folder, or an ``OpenAIPolicy`` on an endpoint (``OpenAITokenPolicy`` with a tokenizer).

    The engine stops them at the env's step ends.
    """
    if not model:
        raise typer.BadParameter(f"--policy {kind} needs --model (a model folder for hf, the served name for openai)")
    if kind == "hf":
        from turngym.agents.hf_policy import HFPolicy

        try:
            return HFPolicy.from_pretrained(model, temperature=temperature, max_new_tokens=max_new_tokens)
        except FileNotFoundError as exc:
            raise typer.BadParameter(str(exc), param_hint="--model") from None
    from turngym.agents.openai_policy import OpenAIPolicy
    from turngym.agents.openai_token_policy import OpenAITokenPolicy

    if not base_url:
        raise typer.BadParameter("--policy openai needs --base-url (an OpenAI-compatible server)")
    try:
        if tokenizer:
            return OpenAITokenPolicy(base_url, model, tokenizer=tokenizer, temperature=temperature, max_tokens=max_new_tokens)
        return OpenAIPolicy(base_url, model, temperature=temperature, max_tokens=max_new_tokens)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tokenizer") from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--base-url") from None
