"""A transformers model as a policy that keeps each conversation as the exact tokens it saw and sampled.

Token in, token out: ``start`` turns the reset observation into prompt tokens, ``sample`` draws k
continuations of each trajectory (one shared prefix encoding per trajectory), ``append`` adds the
chosen sample's tokens (mask 1) with their log-probs, and ``observe`` adds the env's reply as the
chat template's tokens for the new messages (mask 0). Nothing is decoded and encoded again, so a
trainer sees the ids that were sampled, and their stored log-probs are the sampling log-probs.

>>> import turngym
>>> from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
>>> tok = tiny_tokenizer("bytes")
>>> env = turngym.make("turngym/GuessNumber-v0")
>>> policy = HFPolicy(tiny_model(tok), tok, stop=env.unwrapped.stop_strings, max_new_tokens=8)
>>> obs, info = env.reset(seed=0)
>>> traj = policy.start(obs)
>>> sample = policy.sample([traj])[0][0]
>>> policy.append(traj, sample)
>>> obs, reward, terminated, truncated, info = env.step(sample.text)
>>> policy.observe(traj, obs)
>>> traj.policy_token_ids() == sample.token_ids
True
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from turngym.agents.base import PolicyOutput
from turngym.agents.chat_tokens import TemplateTokenPolicy, ToolRole, prompt_ids
from turngym.agents.sampler import Sample, StepSampler
from turngym.agents.trajectory import TokenTrajectory
from turngym.envs.messages import Message


class HFPolicy(TemplateTokenPolicy):
    """A causal LM policy over token trajectories (``TokenPolicy``; ``act_batch`` too).

    ``start``, ``append`` and ``observe`` come from ``TemplateTokenPolicy``; ``sample`` runs ``sampler``.

    Arguments:
        model, tokenizer: a transformers causal LM and its tokenizer (with a chat template).
        tools: OpenAI tool schemas given to the chat template (or written into the system prompt
            when the template ignores them). turngym envs already list their tools in the system
            message, so leave this empty for them unless the model was trained on template tools.
        stop: stop strings that end a turn when ``sample`` is given none (the rollout engine passes the
            env's ``stop_strings``).
        max_new_tokens, temperature, top_p, top_k: sampling settings of ``sampler``.
        tool_role: ``"template"`` (tool messages go to the template as they are) or ``"user"``
            (as user turns naming the tool, for templates without a tool role).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        tools: Sequence[dict] | None = None,
        stop: Sequence[str] = (),
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        tool_role: ToolRole = "template",
        prefix_cache: bool = True,
    ):
        self.model = model
        self.sampler = StepSampler(
            model,
            tokenizer,
            stop=stop,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            prefix_cache=prefix_cache,
        )
        super().__init__(tokenizer, tools, tool_role)

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        lora: dict | None = None,
        dtype: str | torch.dtype | None = None,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> HFPolicy:
        """Load a local model folder (``config.json``, weights, tokenizer); nothing is downloaded.

        ``dtype`` defaults to bfloat16 on CUDA and float32 on CPU; ``device`` to CUDA when there is
        one. ``lora`` wraps the model with peft's ``get_peft_model(model, LoraConfig(**lora))``
        (``task_type`` defaults to ``CAUSAL_LM``). Other keyword arguments go to ``HFPolicy``.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = Path(path)
        if not folder.is_dir() or not (folder / "config.json").is_file():
            what = "no such directory" if not folder.is_dir() else "no config.json in it"
            raise FileNotFoundError(
                f"expected a local model directory with config.json (e.g. from `turngym model prepare`), "
                f"got {str(path)!r} ({what})"
            )
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = _dtype(dtype, device)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True).to(device)
        if lora is not None:
            model = with_lora(model, lora)
        return cls(model.eval(), tokenizer, **kwargs)

    # ---- token trajectories --------------------------------------------------------------------
    def sample(
        self,
        trajs: Sequence[TokenTrajectory],
        k: int = 1,
        *,
        generator: torch.Generator | None = None,
        temperature: float | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> list[list[Sample]]:
        """k continuations of each trajectory (each trajectory's tokens encoded once); settings override the policy's."""
        self.check_awaiting(trajs)
        return self.sampler.sample(
            [t.token_ids for t in trajs],
            k,
            generator=generator,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            stop=stop,
        )

    def teacher_forced(self, traj: TokenTrajectory, token_ids: Sequence[int]) -> Sample:
        """A sample made of given tokens (a demonstration, e.g. the env's oracle action) with the model's log-probs.

        The log-probs are those the sampler would have given these tokens after ``traj`` (at its
        temperature; 1 when greedy), so an ``append``-ed forced turn trains like a sampled one.
        """
        from turngym.agents.logprobs import sequence_logprobs

        tokens = [int(t) for t in token_ids]
        if not tokens:
            raise ValueError("expected at least one token to force, got none")
        if not self._awaits_action(traj):
            raise ValueError(
                "expected a trajectory that awaits an action (after start or observe), got one ending with an action"
            )
        ids = torch.tensor([traj.token_ids + tokens], device=self.model.device)
        with torch.no_grad():
            logprobs = sequence_logprobs(self.model, ids, torch.ones_like(ids), temperature=self.sampler.temperature or 1.0)
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        reason = "eos" if tokens[-1] in self.sampler.eos_ids else "stop"
        return Sample(token_ids=tokens, logprobs=logprobs[0, len(traj.token_ids) :].tolist(), text=text, finish_reason=reason)

    # ---- stateless (evaluation) ------------------------------------------------------------------
    def act_batch(self, conversations: Sequence[Sequence[Message]]) -> list[PolicyOutput]:
        """One sampled action per conversation, each conversation rendered in full (no state kept)."""
        if not conversations:
            return []
        prompts = [prompt_ids(self.tokenizer, c, self.tools, tool_role=self.tool_role) for c in conversations]
        samples = self.sampler.sample(prompts, 1)
        return [PolicyOutput(action=s[0].text, token_ids=list(s[0].token_ids), logprobs=list(s[0].logprobs)) for s in samples]


def with_lora(model: Any, lora: dict) -> Any:
    """``model`` wrapped with fresh LoRA adapters from peft (``LoraConfig(**lora)``)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ImportError(f"LoRA needs peft: pip install 'turngym[train]' ({exc})") from exc
    if not isinstance(lora, dict):
        raise TypeError(f"expected lora a dict of LoraConfig arguments, got {type(lora).__name__}")
    with warnings.catch_warnings():  # peft asks transformers 5.x a deprecated question; nothing for the user to do
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, LoraConfig(**{"task_type": "CAUSAL_LM", **lora}))


def _dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise ValueError(f"expected dtype a floating torch dtype or its name (float32, bfloat16, float16), got {dtype!r}")
    return value
