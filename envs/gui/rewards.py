"""Rule process rewards for the GUI envs, read from ``ctx.extras["gui"]`` (see ``BrowserEnv``).

``extras["gui"]`` holds the step's ``action`` (``{"name", "args"}`` or None), the ``elements`` of
the page the agent acted on (``bid``, ``role``, ``box`` = ``[x, y, w, h]``, ``visible`` ...), the
page's ``error`` and ``status``; where the env knows a reference action for that page (its oracle)
it adds ``reference`` (``{"name", "args", "box"}``, ``box`` the target element's box or None) and
``viewport`` (``{"width", "height"}``).

- ``ValidGuiAction`` (``gui/valid_action``): the action parsed and its target exists and is visible.
- ``ReferenceAction`` (``gui/reference``): UI-R1's action rewards against the reference: ``type``
  (same kind of action) and ``click`` (the action's point lies inside the reference target's box).
- ``BoxPrediction`` (``gui/box``): GUI-G1's grounding reward for an action or answer that predicts
  a box: ``hit`` (its centre in the target box), ``iou`` and ``size`` (the box-size constraint
  that stops a policy from winning ``hit`` or ``iou`` by inflating or shrinking its box).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from turngym.envs.gui.actions import ELEMENT_ACTIONS
from turngym.envs.gui.browser import DEFAULT_VIEWPORT
from turngym.envs.hooks.base import Score, StepContext

BID_ARGS = ("bid", "from_bid", "to_bid")
POINT_ACTIONS = frozenset({"mouse_click", "mouse_dblclick", "mouse_move", "mouse_down", "mouse_up"})
ACTION_TYPES = {  # the element and the coordinate form of one action are the same type (UI-R1's R_T)
    "mouse_click": "click",
    "mouse_dblclick": "dblclick",
    "mouse_move": "hover",
    "keyboard_type": "type",
    "fill": "type",
    "keyboard_press": "press",
}
_BOX = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]")


def gui_step(ctx: StepContext) -> Mapping[str, Any] | None:
    """The step's ``extras["gui"]``, or None when the env put none there (a malformed action)."""
    gui = ctx.extras.get("gui")
    return gui if isinstance(gui, Mapping) else None


def action_type(name: str) -> str:
    return ACTION_TYPES.get(name, name)


def action_point(action: Mapping[str, Any], elements: Sequence[Mapping[str, Any]]) -> tuple[float, float] | None:
    """Where the action lands: ``(x, y)`` of a coordinate action, the centre of an element
    action's target; None for actions without a point (scroll, keyboard, messages)."""
    args = action.get("args") or {}
    if action.get("name") in POINT_ACTIONS:
        return float(args["x"]), float(args["y"])
    if action.get("name") in ELEMENT_ACTIONS:
        element = _element(elements, args.get("bid"))
        if element is not None:
            x, y, w, h = element["box"]
            return x + w / 2, y + h / 2
    return None


def inside(point: tuple[float, float], box: Sequence[float]) -> bool:
    """Whether ``point`` lies in ``box`` = ``[x, y, w, h]`` (edges included)."""
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def _element(elements: Sequence[Mapping[str, Any]], bid: Any) -> Mapping[str, Any] | None:
    return next((e for e in elements if e["bid"] == str(bid)), None) if bid is not None else None


def _refused(ctx: StepContext) -> float | None:
    """0 for a step whose action did not parse (or had bad arguments), None when there was none."""
    failed = ctx.action_error is not None or ctx.parsed.error is not None or any(not c["ok"] for c in ctx.tool_calls)
    return 0.0 if failed else None


@dataclass(frozen=True)
class ValidGuiAction:
    """1.0 when the step's action parsed, every element it names (``bid``, ``from_bid``, ``to_bid``)
    is on the page the agent acted on and visible, a coordinate action's point lies in a visible
    element, and the page did not refuse it (``fill`` on a button); else 0.0. None when the step
    sent no action at all."""

    name: str = "gui/valid_action"

    def score_batch(self, contexts: Sequence[StepContext]) -> list[Score]:
        return [self._score(ctx) for ctx in contexts]

    def _score(self, ctx: StepContext) -> Score:
        gui = gui_step(ctx)
        action = gui.get("action") if gui else None
        if action is None:
            return _refused(ctx)
        if gui.get("error"):
            return 0.0
        elements = gui.get("elements") or []
        args = action.get("args") or {}
        for key in BID_ARGS:
            if key in args:
                element = _element(elements, args[key])
                if element is None or not element.get("visible"):
                    return 0.0
        if action["name"] in POINT_ACTIONS:
            point = action_point(action, elements)
            if not any(e.get("visible") and inside(point, e["box"]) for e in elements):
                return 0.0
        return 1.0


@dataclass(frozen=True)
class ReferenceAction:
    """UI-R1's action rewards against the reference action for the page the agent acted on
    (``extras["gui"]["reference"]``): ``type`` 1/0 (same action type; an element action and its
    coordinate form count as one type), and, when the reference targets a box, ``click`` 1/0 (the
    agent's point, its coordinates or its target's centre, lies inside that box). None when no
    reference is known; a malformed action scores 0 on both."""

    name: str = "gui/reference"

    def score_batch(self, contexts: Sequence[StepContext]) -> list[Score]:
        return [self._score(ctx) for ctx in contexts]

    def _score(self, ctx: StepContext) -> Score:
        gui = gui_step(ctx)
        reference = gui.get("reference") if gui else None
        if reference is None:
            return None
        action = gui.get("action")
        box = reference.get("box")
        if action is None:
            return {"type": 0.0, **({"click": 0.0} if box is not None else {})}
        scores = {"type": float(action_type(action["name"]) == action_type(reference["name"]))}
        if box is not None:
            point = action_point(action, gui.get("elements") or [])
            scores["click"] = float(point is not None and inside(point, box))
        return scores


@dataclass(frozen=True)
class BoxPrediction:
    """GUI-G1's grounding reward for a predicted box ``[x1, y1, x2, y2]`` (pixels; the ``box``
    argument of an action, or the first such list in the text of ``send_msg_to_user`` or an
    answer) against the reference target's box: parts ``hit`` (the box's centre lies in the
    target), ``alpha * iou`` and ``beta * size``, where ``size`` is GUI-G1's box-size constraint,
    the harmonic mean of ``1 - |predicted - target| / screen side`` over the four coordinates, so
    a box much larger (or smaller) than the target loses reward even when it covers it. Defaults
    are GUI-G1's weights. None when the step predicts no box or no reference box is known."""

    alpha: float = 0.25
    beta: float = 0.125
    name: str = "gui/box"

    def score_batch(self, contexts: Sequence[StepContext]) -> list[Score]:
        return [self._score(ctx) for ctx in contexts]

    def _score(self, ctx: StepContext) -> Score:
        gui = gui_step(ctx)
        reference = gui.get("reference") if gui else None
        target = reference.get("box") if reference else None
        predicted = predicted_box(ctx)
        if target is None or predicted is None:
            return None
        tx, ty, tw, th = target
        target_corners = (tx, ty, tx + tw, ty + th)
        viewport = gui.get("viewport") or DEFAULT_VIEWPORT
        centre = ((predicted[0] + predicted[2]) / 2, (predicted[1] + predicted[3]) / 2)
        return {
            "hit": float(inside(centre, target)),
            "iou": self.alpha * iou(predicted, target_corners),
            "size": self.beta * size_constraint(predicted, target_corners, viewport["width"], viewport["height"]),
        }


def predicted_box(ctx: StepContext) -> tuple[float, float, float, float] | None:
    """The box ``[x1, y1, x2, y2]`` the step predicts, or None."""
    gui = gui_step(ctx)
    action = (gui.get("action") if gui else None) or {}
    args = action.get("args") or {}
    if "box" in args:
        return _corners(args["box"])
    texts = [args.get("text")] if action.get("name") == "send_msg_to_user" else []
    texts.append(ctx.parsed.answer)
    for text in texts:
        match = _BOX.search(text) if isinstance(text, str) else None
        if match:
            return _corners([float(v) for v in match.groups()])
    return None


def _corners(value: Any) -> tuple[float, float, float, float] | None:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return None
    if not isinstance(value, list | tuple) or len(value) != 4 or not all(isinstance(v, int | float) for v in value):
        return None
    x1, y1, x2, y2 = (float(v) for v in value)
    return (x1, y1, x2, y2) if x2 >= x1 and y2 >= y1 else None


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes (0 when both are empty)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def size_constraint(predicted: Sequence[float], target: Sequence[float], width: float, height: float) -> float:
    """GUI-G1's ``R_box``: the harmonic mean of each corner coordinate's closeness to the target's,
    ``1 - |p - t| / side`` (clipped at 0); 1 for the exact box, towards 0 as it grows or shrinks."""
    sides = (width, height, width, height)
    closeness = [max(0.0, 1 - abs(p - t) / side) for p, t, side in zip(predicted, target, sides, strict=True)]
    if min(closeness) == 0.0:
        return 0.0
    return 4 / sum(1 / c for c in closeness)


GUI_HOOKS = {hook.name: hook for hook in (ValidGuiAction, ReferenceAction, BoxPrediction)}
"""The GUI hooks by name, as a training config's ``process_rewards`` names them."""
