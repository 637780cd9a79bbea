"""Goal checks against a session's state: ``check_goal`` scores it, ``goal_done`` says the episode's last act happened."""

from __future__ import annotations

from dataclasses import dataclass

from turngym.envs.gui.webapp.state import ShopState
from turngym.envs.gui.webapp.tasks import Goal


@dataclass(frozen=True)
class GoalResult:
    """``success`` only when every part is 1; ``score`` is the mean of ``parts`` (partial credit)."""

    success: bool
    score: float
    parts: dict[str, float]


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def check_goal(goal: Goal, state: ShopState) -> GoalResult:
    """Score the session's last order (and return request) against ``goal``.

    Parts: ``one_order`` (exactly one order placed), ``product``, ``size``, ``quantity`` (the
    order holds that one line and nothing else), ``shipping`` (name, address, method, gift wrap),
    and per kind ``coupon``, ``reference`` or ``return`` (a return request for that order with
    the goal's reason). Every part is 0 when no order was placed.
    """
    names = ["one_order", "product", "size", "quantity", "shipping"]
    names += {"coupon": ["coupon"], "reference": ["reference"], "return": ["return"]}.get(goal.kind, [])
    if not state.orders:
        return GoalResult(False, 0.0, dict.fromkeys(names, 0.0))
    order = state.orders[-1]
    lines = [line for line in order.lines if line.product_id == goal.product_id]
    only = len(order.lines) == 1 and len(lines) == 1
    parts = {
        "one_order": float(len(state.orders) == 1),
        "product": float(only),
        "size": float(only and lines[0].size == goal.size),
        "quantity": float(only and lines[0].quantity == goal.quantity),
        "shipping": float(
            _same_text(order.name, goal.name)
            and _same_text(order.address, goal.address)
            and order.shipping == goal.shipping
            and order.gift_wrap == goal.gift_wrap
        ),
    }
    if goal.kind == "coupon":
        parts["coupon"] = float(order.coupon == goal.coupon)
    elif goal.kind == "reference":
        parts["reference"] = float(order.reference.strip().upper() == goal.reference.upper())
    elif goal.kind == "return":
        parts["return"] = float(
            len(state.returns) == 1
            and state.returns[0].order_number == order.number
            and state.returns[0].reason == goal.return_reason
        )
    score = sum(parts.values()) / len(parts)
    return GoalResult(score == 1.0, score, parts)


def goal_done(goal: Goal, state: ShopState) -> bool:
    """The agent's last act for this goal happened: an order was placed (and, for ``return``, a return requested)."""
    return bool(state.orders) and (goal.kind != "return" or bool(state.returns))
