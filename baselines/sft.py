"""Supervised fine-tuning on recorded episodes (``turngym rollout ID --policy scripted --out FILE.jsonl``) or on
episodes exported with ``turngym.engine.dataset.episodes_to_dataset(...).save_to_disk(DIR)``.

Each recorded conversation is rendered with the model's chat template piece by piece: the text
each assistant message adds (its content, tool calls and end-of-turn) is a target (mask 1), the
prompt and every env message are context (mask 0). The loss is the mean negative log-likelihood of
the target tokens; batches are drawn from a per-epoch shuffle fixed by the seed, so a resumed run
sees the same batches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from turngym.agents.chat_tokens import ChatTemplateError, encode, render
from turngym.agents.logprobs import pad_batch, sequence_logprobs
from turngym.agents.trajectory import TokenTrajectory
from turngym.baselines.config import SFTConfig
from turngym.baselines.run import TrainingRun
from turngym.engine.dataset import load_episodes
from turngym.envs.messages import Message
from turngym.envs.recording import read_episodes


def episode_outcome(record: dict[str, Any]) -> float:
    steps = record.get("steps") or []
    return float(steps[-1]["reward_parts"].get("outcome", 0.0)) if steps else 0.0


def load_conversations(path: str, *, only_successful: bool = True) -> list[list[Message]]:
    """The conversations of recorded episodes (those with outcome > 0 when asked), one per context.

    ``path`` is a recorded-episodes JSONL file or a directory of exported episodes
    (``episodes_to_dataset(...).save_to_disk(path)``, told apart by its ``dataset_info.json``).
    """
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "dataset_info.json")):
            raise ValueError(
                "expected a recorded-episodes JSONL file or a directory saved by episodes_to_dataset(...).save_to_disk, "
                f"got the directory {path} without dataset_info.json"
            )
        episodes = [(e.outcome, [t.messages for t in e.trajectories]) for e in load_episodes(path)]
    else:
        episodes = [(episode_outcome(r), _contexts(r)) for r in read_episodes(path)]
    conversations = [
        messages
        for outcome, contexts in episodes
        for messages in contexts
        if (outcome > 0 or not only_successful) and any(m.get("role") == "assistant" for m in messages)
    ]
    if not conversations:
        which = "successful episodes (outcome > 0)" if only_successful else "episodes with an assistant message"
        raise ValueError(f"expected {which} in {path}, got none")
    return conversations


def _contexts(record: dict[str, Any]) -> list[list[Message]]:
    """A record's messages split into its contexts (an env that resets its context has several)."""
    messages = record.get("messages") or []
    bounds = [*(record.get("context_starts") or [0]), len(messages)]
    return [messages[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def conversation_tokens(tokenizer: Any, messages: Sequence[Message], tools: Sequence[dict] | None = None) -> TokenTrajectory:
    """The conversation as token ids; mask 1 on what each assistant turn adds to the chat template's text."""
    traj = TokenTrajectory()
    rendered = ""
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        prompt = render(tokenizer, messages[:i], tools, add_generation_prompt=True)
        turn = render(tokenizer, messages[: i + 1], tools)
        if not prompt.startswith(rendered) or not turn.startswith(prompt):
            raise ChatTemplateError(f"the chat template does not extend the conversation turn by turn at message {i}")
        traj.extend_prompt(encode(tokenizer, prompt[len(rendered) :]))
        target = encode(tokenizer, turn[len(prompt) :])
        traj.extend_policy(target, [0.0] * len(target))
        rendered = turn
    return traj


def sft_loss(model: torch.nn.Module, batch: Sequence[TokenTrajectory], pad_id: int) -> tuple[torch.Tensor, float]:
    """Mean NLL over the target tokens of ``batch``, and the number of target tokens."""
    device = next(model.parameters()).device
    ids, attention = pad_batch([t.token_ids for t in batch], pad_id, device=device)
    mask = torch.zeros(ids.shape, device=device)
    for row, t in enumerate(batch):
        mask[row, : len(t)] = torch.tensor(t.mask, dtype=torch.float32)
    logprobs = sequence_logprobs(model, ids, attention)
    tokens = mask.sum()
    return -(logprobs * mask).sum() / tokens.clamp(min=1.0), float(tokens)


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> list[int]:
    """The conversation indices of ``step`` (1-based): consecutive slices of a per-epoch shuffle."""
    per_epoch = max(n // batch_size, 1)
    epoch, slot = divmod(step - 1, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    chosen = order[slot * batch_size : slot * batch_size + batch_size]
    return [int(i) for i in chosen] if len(chosen) else [int(i) for i in order[:batch_size]]


def train_sft(config: SFTConfig, *, resume: bool = True, on_log: Callable[[int, dict], None] | None = None) -> dict[str, Any]:
    """Fine-tune on the recorded episodes in ``config.data``; returns the last step's metrics."""
    run = TrainingRun(config, resume=resume, on_log=on_log)
    conversations = load_conversations(config.data, only_successful=config.only_successful)
    examples = [conversation_tokens(run.tokenizer, c) for c in conversations]
    last: dict[str, Any] = {}
    for step in run.steps():
        batch = [examples[i] for i in batch_indices(len(examples), config.batch_size, step, config.seed)]
        run.model.train()
        run.optimizer.zero_grad(set_to_none=True)
        loss, tokens = sft_loss(run.model, batch, run.pad_id)
        loss.backward()
        params = [p for p in run.model.parameters() if p.requires_grad]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm if config.max_grad_norm > 0 else float("inf"))
        run.optimizer.step()
        metrics = {"loss/sft": float(loss.detach()), "loss/tokens": tokens, "loss/grad_norm": float(grad_norm)}
        last = run.end_step(step, {**metrics, "data/conversations": len(examples)})
    run.close()
    return last
