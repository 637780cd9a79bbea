"""The clipped policy-gradient loss shared by the trainers (GRPO, REINFORCE with ReBN, step-level GRPO)."""

from __future__ import annotations

import torch


def policy_gradient_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    kl_coef: float = 0.0,
    ref_logprobs: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped surrogate per token, averaged over the policy's tokens (``mask == 1``) only.

    Args:
        new_logprobs: ``[B, T]`` log-probs of the tokens under the policy being trained (with grad).
        old_logprobs: ``[B, T]`` log-probs the tokens were sampled with (no grad needed).
        advantages: ``[B]`` (one per sequence, broadcast over its tokens) or ``[B, T]`` (per token).
        mask: ``[B, T]``, 1 where the token was sampled by the policy, 0 for prompt, env and padding.
        clip_eps: the ratio is clipped to ``[1 - clip_eps, 1 + clip_eps_high]``.
        clip_eps_high: the upper clip (DAPO's "clip higher"); defaults to ``clip_eps``.
        kl_coef: weight of the KL penalty to ``ref_logprobs`` (the k3 estimator, per token).
        ref_logprobs: ``[B, T]`` log-probs under a frozen reference model; needed when ``kl_coef > 0``.

    Returns:
        The scalar loss and floats: ``loss/policy``, ``loss/kl``, ``loss/total``, ``loss/clip_fraction``,
        ``loss/ratio_mean``, ``loss/approx_kl_old`` (policy drift since sampling), ``loss/tokens``.
    """
    if new_logprobs.ndim != 2:
        raise ValueError(f"new_logprobs must be [B, T], got shape {tuple(new_logprobs.shape)}")
    shape = new_logprobs.shape
    for name, tensor in (("old_logprobs", old_logprobs), ("mask", mask)):
        if tensor.shape != shape:
            raise ValueError(f"{name} must have the shape of new_logprobs {tuple(shape)}, got {tuple(tensor.shape)}")
    if advantages.shape == shape[:1]:
        advantages = advantages[:, None]
    elif advantages.shape != shape:
        raise ValueError(f"advantages must be [B] or [B, T] with B, T = {tuple(shape)}, got {tuple(advantages.shape)}")
    if clip_eps <= 0:
        raise ValueError(f"clip_eps must be > 0, got {clip_eps!r}")
    high = clip_eps if clip_eps_high is None else clip_eps_high
    if kl_coef < 0:
        raise ValueError(f"kl_coef must be >= 0, got {kl_coef!r}")
    if kl_coef > 0 and ref_logprobs is None:
        raise ValueError("kl_coef > 0 needs ref_logprobs, got None")
    if ref_logprobs is not None and ref_logprobs.shape != shape:
        raise ValueError(f"ref_logprobs must have the shape of new_logprobs {tuple(shape)}, got {tuple(ref_logprobs.shape)}")

    weights = mask.to(new_logprobs.dtype)
    n_tokens = weights.sum().clamp(min=1.0)
    old = old_logprobs.detach()
    advantages = advantages.detach().to(new_logprobs.dtype)
    # Where the mask is 0 the difference is zeroed before exp so that padding never overflows.
    log_ratio = (new_logprobs - old) * weights
    ratio = torch.exp(log_ratio)
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + high)
    per_token = -torch.minimum(ratio * advantages, clipped * advantages)
    policy_loss = (per_token * weights).sum() / n_tokens

    kl = torch.zeros((), dtype=new_logprobs.dtype, device=new_logprobs.device)
    if ref_logprobs is not None:
        ref_diff = (ref_logprobs.detach() - new_logprobs) * weights
        kl = ((torch.exp(ref_diff) - ref_diff - 1.0) * weights).sum() / n_tokens
    total = policy_loss + kl_coef * kl

    with torch.no_grad():
        was_clipped = ((ratio < 1.0 - clip_eps) | (ratio > 1.0 + high)).to(weights.dtype)
        stats = {
            "loss/policy": float(policy_loss),
            "loss/kl": float(kl),
            "loss/total": float(total),
            "loss/clip_fraction": float((was_clipped * weights).sum() / n_tokens),
            "loss/ratio_mean": float((ratio * weights).sum() / n_tokens),
            "loss/approx_kl_old": float(((ratio - 1.0 - log_ratio) * weights).sum() / n_tokens),
            "loss/tokens": float(weights.sum()),
        }
    return total, stats
