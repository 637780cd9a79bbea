"""Helpers of the scripted MiniWoB oracles (``miniwob_oracles.py`` collects them).

An oracle is ``f(instruction, fields, view) -> GuiAction | None``. It is called again on every new
page, so each one is a small state machine reading the page (fill the field if its value is wrong,
else press Submit); none keeps memory between calls, so every oracle is deterministic. A page that
does not show what was done (a toggled icon, the mouse's place) takes ``@oracle(..., history=True)``:
the oracle also gets the actions performed so far in the episode, ``f(instruction, fields, view,
history)``. Actions are built by ``act`` with the tools' defaults filled, exactly as a model's parsed
action would be. The family files (``miniwob_oracles_<family>.py``) register their oracles with ``@oracle``.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from turngym.envs.gui.actions import (
    GuiAction,
    validated_action,  # the env's own validation: the same defaults
)
from turngym.envs.gui.driver import PageView
from turngym.envs.parsers import ToolCall

Oracle = Callable[[str, dict[str, Any], PageView], GuiAction | None]
Element = dict[str, Any]
ORACLES: dict[str, Callable[[str, dict[str, Any], PageView, list[GuiAction]], GuiAction | None]] = {}
"""task -> ``f(instruction, fields, view, history)``: every oracle, called the same way."""

_LINE = re.compile(r"^\t*\[(\d+)\] (\S+)(?: '((?:[^'\\]|\\.)*)')?(.*)$")
ORDINALS = {f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}": n for n in range(1, 100)}


def act(name: str, **args: Any) -> GuiAction:
    """A ``GuiAction`` with the tool's defaults filled, as the env's tools would perform it."""
    action = validated_action(ToolCall(name, args, "oracle"))
    if action is None:
        raise ValueError(f"the oracle built an invalid action {name}({args})")
    return action


def oracle(*tasks: str, history: bool = False) -> Callable[[Any], Any]:
    """Register an oracle for ``tasks``; ``history``: it also takes the episode's performed actions."""

    def register(fn: Any) -> Any:
        def call(instruction: str, fields: dict[str, Any], view: PageView, done: list[GuiAction]) -> GuiAction | None:
            return fn(instruction, fields, view, done) if history else fn(instruction, fields, view)

        for task in tasks:
            ORACLES[task] = call
        return fn

    return register


def clicked(element: Element, done: list[GuiAction]) -> bool:
    """Whether an action of ``done`` clicked ``element``: by its bid, or at a point of its box."""
    return any(
        (a.name == "click" and a.args.get("bid") == element["bid"])
        or (a.name == "mouse_click" and contains_point(element, a.args["x"], a.args["y"]))
        for a in done
    )


# ---- reading the page ---------------------------------------------------------------------------
@functools.cache
def page_source(relative: str) -> str:
    """A file of the ``miniwob`` package's ``html`` folder (a task's page or its data), as text."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("MiniWoB oracles need the miniwob package: pip install 'turngym[gui]'")
    return (Path(next(iter(spec.submodule_search_locations))) / "html" / relative).read_text()


def quoted(text: str) -> list[str]:
    """The double-quoted parts of an instruction."""
    return re.findall(r'"(.*?)"', text)


def shown(view: PageView) -> list[Element]:
    return [e for e in view.elements if e["visible"]]


def find(view: PageView, *, role: str | None = None, name: str | None = None, tag: str | None = None) -> list[Element]:
    """Visible elements matching every given criterion (names compared exactly)."""
    return [
        e
        for e in shown(view)
        if (role is None or e["role"] == role) and (name is None or e["name"] == name) and (tag is None or e["tag"] == tag)
    ]


def first(view: PageView, **criteria: Any) -> Element | None:
    found = find(view, **criteria)
    return found[0] if found else None


def props(view: PageView) -> dict[str, str]:
    """bid -> the tree line's properties after the name (``focused``, ``expanded=true`` ...)."""
    out = {}
    for line in view.lines:
        m = _LINE.match(line)
        if m:
            out[m.group(1)] = m.group(4)
    return out


def focused(view: PageView) -> str | None:
    return next((bid for bid, p in props(view).items() if " focused" in f"{p} "), None)


def inside(inner: Element, outer: Element, slack: float = 0) -> bool:
    """Whether ``inner``'s box lies in ``outer``'s (give or take ``slack`` pixels)."""
    (x, y, w, h), (ox, oy, ow, oh) = inner["box"], outer["box"]
    return ox - slack <= x and oy - slack <= y and x + w <= ox + ow + slack and y + h <= oy + oh + slack


def contains_point(e: Element, x: float, y: float) -> bool:
    bx, by, bw, bh = e["box"]
    return bx <= x < bx + bw and by <= y < by + bh


def textboxes(view: PageView) -> list[Element]:
    return [e for e in shown(view) if e["role"] in ("textbox", "spinbutton") and e["enabled"]]


def button(view: PageView, label: str = "Submit") -> Element | None:
    """The visible button named ``label`` (case-insensitive)."""
    return next((e for e in shown(view) if e["role"] == "button" and e["name"].lower() == label.lower()), None)


# ---- acting ----------------------------------------------------------------------------------------
def free_point(view: PageView, element: Element) -> tuple[float, float] | None:
    """A point of ``element`` that no element drawn later covers: its centre when free; None when none is."""
    x, y, w, h = element["box"]
    later = view.elements[view.elements.index(element) + 1 :] if element in view.elements else []
    covers = [e for e in later if e["visible"] and not inside(e, element) and _overlaps(e, element)]
    # candidate points: fractions of the box, and just beside each cover's edges (boxes are rounded)
    xs = [x + w * f for f in (0.5, 0.25, 0.75, 0.1, 0.9)]
    ys = [y + h * f for f in (0.5, 0.25, 0.75, 0.1, 0.9)]
    for cx0, cy0, cw, ch in (e["box"] for e in covers):
        xs += [cx0 - 1, cx0 + cw + 1]
        ys += [cy0 - 1, cy0 + ch + 1]
    for px in xs:
        for py in ys:
            free = x + 0.5 < px < x + w - 0.5 and y + 0.5 < py < y + h - 0.5
            if free and not any(contains_point(e, px, py) for e in covers):
                return round(px, 1), round(py, 1)
    return None


def click(view: PageView, element: Element) -> GuiAction:
    """Click ``element``; at a free point of it when another element drawn later covers its centre."""
    x, y, w, h = element["box"]
    point = free_point(view, element)
    if point is None or point == (round(x + w / 2, 1), round(y + h / 2, 1)):
        return act("click", bid=element["bid"])
    return act("mouse_click", x=point[0], y=point[1])


def click_text(view: PageView, element: Element) -> GuiAction:
    """Click an inline text element (a link): one that wraps over lines has its box's centre
    between its words, so it is clicked at the start of its last line (the box's bottom left)."""
    x, y, w, h = element["box"]
    if h <= 16:  # one line of MiniWoB's small text
        return click(view, element)
    return act("mouse_click", x=x + 2, y=y + h - 4)


def _overlaps(a: Element, b: Element) -> bool:
    (ax, ay, aw, ah), (bx, by, bw, bh) = a["box"], b["box"]
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def fill_then(view: PageView, wanted: Iterable[tuple[Element, str]], then: Element | None) -> GuiAction | None:
    """Fill each field whose value differs from what is wanted, then click ``then``."""
    for field, value in wanted:
        if (field["value"] or "") != value:
            return act("fill", bid=field["bid"], value=value)
    return None if then is None else click(view, then)


def submit(view: PageView) -> GuiAction | None:
    found = button(view, "Submit")
    return None if found is None else click(view, found)
