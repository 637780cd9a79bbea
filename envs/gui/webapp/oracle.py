"""The shop's oracle: the next BrowserGym action string from the goal, the session's state and the page's elements.

``elements`` is the page's interactive elements as dicts ``{bid, role, name, value, tag}`` (plus
``checked`` for checkboxes). The oracle reads the page only through them, so it plugs into any
observation that lists elements this way; it reads the session's state for what the page cannot
show (what is in the cart when the cart page is not open, which pages were seen). It visits the
page a carried detail comes from before typing that detail, as an agent would have to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from turngym.envs.gui.webapp.goals import goal_done
from turngym.envs.gui.webapp.pages import line_label
from turngym.envs.gui.webapp.state import CartLine, ShopState
from turngym.envs.gui.webapp.tasks import Goal

Element = Mapping[str, Any]
CONTROL_TAGS = frozenset({"a", "button", "input", "select", "textarea"})


def action(name: str, bid: str, *args: str) -> str:
    """A BrowserGym action string, e.g. ``fill("12", "Ada Lovelace")``."""
    return f"{name}({', '.join(json.dumps(str(a)) for a in (bid, *args))})"


def _find(elements: Sequence[Element], name: str) -> Element | None:
    """The first visible control (link, button, input, select, text area) named ``name``; labels and headings are not."""
    want = " ".join(name.split())
    return next(
        (
            e
            for e in elements
            if e.get("tag") in CONTROL_TAGS and e.get("visible", True) and " ".join(str(e.get("name", "")).split()) == want
        ),
        None,
    )


def _set(element: Element, value: str) -> str | None:
    """The action that puts ``value`` into a text box or select, or None when it holds it already."""
    if str(element.get("value", "")) == value:
        return None
    return action("select_option" if element.get("tag") == "select" else "fill", element["bid"], value)


def _tick(element: Element, checked: bool) -> str | None:
    return None if bool(element.get("checked")) == checked else action("click", element["bid"])


def _go(elements: Sequence[Element], *links: str) -> str:
    """Click the first of ``links`` the page has; else a way back to the shop."""
    for name in (*links, "Home", "Back to the shop"):
        element = _find(elements, name)
        if element is not None:
            return action("click", element["bid"])
    return "go_back()"


def _fill_form(elements: Sequence[Element], fields: list[tuple[str, str | bool]], submit: str) -> str:
    for name, value in fields:
        element = _find(elements, name)
        if element is None:
            continue
        step = _tick(element, value) if isinstance(value, bool) else _set(element, value)
        if step is not None:
            return step
    return action("click", _find(elements, submit)["bid"])


def oracle_action(goal: Goal, state: ShopState, elements: Sequence[Element]) -> str:
    """The next action towards ``goal``; ``noop()`` once the goal's last act is done."""
    if goal_done(goal, state):
        return "noop()"
    if state.orders:  # a return goal: the order is placed, the return request is next
        if _find(elements, "Submit request") is None:
            return _go(elements, "Support")
        fields = [("Order number", state.orders[-1].number), ("Reason", goal.return_reason)]
        return _fill_form(elements, fields, "Submit request")
    source = {"coupon": "inbox", "reference": "account"}.get(goal.kind)
    if source is not None and source not in state.visited:
        return _go(elements, source.capitalize())
    want = CartLine(goal.product_id, goal.size, goal.quantity)
    if state.cart == [want]:
        if _find(elements, "Place order") is not None:
            fields: list[tuple[str, str | bool]] = [
                ("Full name", goal.name),
                ("Address", goal.address),
                ("Shipping", goal.shipping),
                ("Coupon code", goal.coupon),
                ("Customer reference", goal.reference),
                ("Gift wrap", goal.gift_wrap),
                ("I accept the terms and conditions", True),
            ]
            return _fill_form(elements, fields, "Place order")
        return _go(elements, "Proceed to checkout", "Cart")
    wrong = [line for line in state.cart if (line.product_id, line.size) != (want.product_id, want.size)]
    mine = [line for line in state.cart if (line.product_id, line.size) == (want.product_id, want.size)]
    if wrong or mine:  # fix the cart on its page: remove other lines, then set the quantity
        if wrong:
            remove = _find(elements, f"Remove {line_label(state, wrong[0])}")
            return action("click", remove["bid"]) if remove is not None else _go(elements, "Cart")
        label = line_label(state, mine[0])
        box = _find(elements, f"Quantity of {label}")
        if box is None:
            return _go(elements, "Cart")
        return _fill_form(elements, [(f"Quantity of {label}", str(goal.quantity))], f"Update {label}")
    product = state.world.product(goal.product_id)
    if _find(elements, f"Add {product.name} to cart") is not None:
        return _fill_form(elements, [("Size", goal.size), ("Quantity", str(goal.quantity))], f"Add {product.name} to cart")
    return _go(elements, product.name, product.category)
