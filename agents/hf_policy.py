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
from turngym.agents.chat_tokens import ToolRole, assistant_closing, continuation_ids, prompt_ids
from turngym.agents.sampler import Sample, StepSampler
from turngym.agents.trajectory import TokenTrajectory
from turngym.envs.messages import Message, copy_messages


class HFPolicy:
    """A causal LM policy over token trajectories (``TokenPolicy``; ``act_batch`` too).

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
        self.tokenizer = tokenizer
        self.tools = list(tools) if tools else None
        self.tool_role: ToolRole = tool_role
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
        self.closing = assistant_closing(tokenizer, self.tools, tool_role=tool_role)  # checks the template early

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
    def start(self, messages: Sequence[Message]) -> TokenTrajectory:
        """A new trajectory: the reset observation as prompt tokens (mask 0) ending with the generation prompt."""
        ids = prompt_ids(self.tokenizer, messages, self.tools, tool_role=self.tool_role)
        traj = TokenTrajectory(messages=copy_messages(list(messages)))
        traj.extend_prompt(ids)
        return traj

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
        for i, traj in enumerate(trajs):
            if not self._awaits_action(traj):
                raise ValueError(
                    f"expected trajectory {i} to await an action (after start or observe), got one ending with an action"
                )
        return self.sampler.sample(
            [t.token_ids for t in trajs],
            k,
            generator=generator,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            stop=stop,
        )

    def append(self, traj: TokenTrajectory, sample: Sample) -> None:
        """Add the policy's chosen sample: its tokens with mask 1 and their log-probs; its text as the action."""
        if not self._awaits_action(traj):
            raise ValueError(
                "expected a trajectory that awaits an action (after start or observe), got one that ends with an action"
            )
        traj.extend_policy(list(sample.token_ids), list(sample.logprobs))
        traj.messages.append({"role": "assistant", "content": sample.text})

    def observe(self, traj: TokenTrajectory, new_messages: Sequence[Message]) -> None:
        """Add the env's reply (mask 0): the closing of the policy's turn, the new messages, the generation prompt."""
        if self._awaits_action(traj):
            raise ValueError(
                "expected the policy's action (append) before the env's next messages, got none since the last observation"
            )
        action_ids = traj.token_ids[traj.turn_starts[-1] :]
        ids = continuation_ids(
            self.tokenizer,
            traj.messages,
            new_messages,
            self.tools,
            after_policy_action=True,
            action_ids=action_ids,
            tool_role=self.tool_role,
        )
        traj.extend_prompt(ids)
        traj.messages.extend(copy_messages(list(new_messages)))

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

    def _awaits_action(self, traj: TokenTrajectory) -> bool:
        return not traj.mask or traj.mask[-1] == 0

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
