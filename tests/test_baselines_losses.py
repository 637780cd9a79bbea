"""The clipped policy-gradient loss against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from turngym.baselines.losses import policy_gradient_loss


def _hand_loss(new, old, adv, mask, eps):
    total, count = 0.0, 0
    for b in range(len(new)):
        for t in range(len(new[b])):
            if mask[b][t]:
                ratio = math.exp(new[b][t] - old[b][t])
                clipped = min(max(ratio, 1 - eps), 1 + eps)
                total += -min(ratio * adv[b], clipped * adv[b])
                count += 1
    return total / count


def test_clipped_loss_equals_hand_computation():
    new = [[0.0, -0.1, -2.0, -0.5], [0.0, -1.0, -0.2, -3.0]]
    old = [[0.0, -0.5, -1.0, -0.5], [0.0, -0.4, -0.9, -3.0]]
    mask = [[0, 1, 1, 1], [0, 1, 1, 0]]
    adv = [1.5, -0.7]
    loss, stats = policy_gradient_loss(torch.tensor(new), torch.tensor(old), torch.tensor(adv), torch.tensor(mask), clip_eps=0.2)
    assert float(loss) == pytest.approx(_hand_loss(new, old, adv, mask, 0.2), rel=1e-6)
    assert stats["loss/tokens"] == 5.0
    assert stats["loss/total"] == pytest.approx(float(loss))
    # ratios e^0.4, e^-1, 1, e^-0.6, e^0.7: 4 of 5 outside [0.8, 1.2]
    assert stats["loss/clip_fraction"] == pytest.approx(4 / 5)


def test_per_token_advantages_match_broadcast_ones():
    new = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    old = new + 0.1 * torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(3, 6)
    adv = torch.tensor([0.3, -1.0, 2.0])
    a, _ = policy_gradient_loss(new, old, adv, mask)
    b, _ = policy_gradient_loss(new, old, adv[:, None].expand(3, 6), mask)
    assert float(a) == pytest.approx(float(b))


def test_gradient_is_zero_outside_the_mask():
    new = torch.randn(2, 5, requires_grad=True)
    old = new.detach() + 0.05
    mask = torch.tensor([[0, 0, 1, 1, 0], [0, 1, 1, 1, 1]])
    loss, _ = policy_gradient_loss(new, old, torch.tensor([1.0, -2.0]), mask, kl_coef=0.1, ref_logprobs=old - 0.3)
    loss.backward()
    assert (new.grad[mask == 0] == 0).all()
    assert (new.grad[mask == 1] != 0).all()


def test_on_policy_gradient_is_the_reinforce_gradient():
    # With old == new the ratio is 1 and d loss / d logp = -A / n_tokens for each policy token.
    new = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    loss, stats = policy_gradient_loss(new, new.detach(), torch.tensor([2.0]), torch.tensor([[0, 1, 1]]))
    loss.backward()
    assert new.grad[0].tolist() == pytest.approx([0.0, -1.0, -1.0])
    assert stats["loss/clip_fraction"] == 0.0
    assert stats["loss/approx_kl_old"] == pytest.approx(0.0)


def test_kl_term_by_hand_and_zero_at_the_reference():
    new = torch.tensor([[-1.0, -0.2, -0.7]])
    ref = torch.tensor([[-1.0, -0.5, -0.1]])
    mask = torch.tensor([[0, 1, 1]])
    zero_adv = torch.zeros(1)
    loss, stats = policy_gradient_loss(new, new, zero_adv, mask, kl_coef=0.5, ref_logprobs=ref)
    k3 = [math.exp(r - n) - (r - n) - 1 for r, n in ((-0.5, -0.2), (-0.1, -0.7))]
    assert stats["loss/kl"] == pytest.approx(sum(k3) / 2, rel=1e-6)
    assert float(loss) == pytest.approx(0.5 * sum(k3) / 2, rel=1e-6)
    _, same = policy_gradient_loss(new, new, zero_adv, mask, kl_coef=0.5, ref_logprobs=new)
    assert same["loss/kl"] == pytest.approx(0.0)


def test_padding_with_huge_logprob_gaps_stays_finite():
    new = torch.tensor([[0.0, -1.0, 0.0]], requires_grad=True)
    old = torch.tensor([[0.0, -1.0, -1e4]])
    loss, _ = policy_gradient_loss(new, old, torch.tensor([1.0]), torch.tensor([[0, 1, 0]]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(new.grad).all()


def test_bad_shapes_and_arguments_are_named():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="advantages must be"):
        policy_gradient_loss(x, x, torch.zeros(3), x)
    with pytest.raises(ValueError, match="mask must have the shape"):
        policy_gradient_loss(x, x, torch.zeros(2), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="needs ref_logprobs"):
        policy_gradient_loss(x, x, torch.zeros(2), x, kl_coef=0.1)
    with pytest.raises(ValueError, match="clip_eps"):
        policy_gradient_loss(x, x, torch.zeros(2), x, clip_eps=0.0)
