"""MiniWoB oracles of the drag family: sortable lists, draggable boxes, resize handles and text selection, with the
mouse."""

from __future__ import annotations

import re
from typing import Any

from turngym.envs.gui.actions import GuiAction
from turngym.envs.gui.driver import PageView
from turngym.envs.gui.miniwob_oracles_kit import (
    ORDINALS,
    Element,
    act,
    find,
    first,
    free_point,
    inside,
    oracle,
    shown,
    submit,
)


def _sort_move(items: list[Element], start: int, end: int) -> GuiAction:
    """Drag item ``start`` (0-based) of a sortable list to index ``end``: from its centre to the far half of the
    target slot, past the target's middle, which is where the sortable lets it in (it reads the direction of the
    last mouse move: down puts the item after the target, up before it)."""
    (x, y, w, h), (tx, ty, tw, th) = items[start]["box"], items[end]["box"]
    to_y = ty + th / 2 + (1 if end > start else -1) * th * 0.3
    return act("mouse_drag_and_drop", from_x=x + w / 2, from_y=y + h / 2, to_x=tx + tw / 2, to_y=round(to_y, 1))


def _items(view: PageView) -> list[Element]:
    return find(view, role="listitem")


@oracle("drag-items")
def drag_items(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Drag (.+?) (to the top|to the bottom|down by one position|up by one position|to the (\w+) position)\.",
                 instruction)  # fmt: skip
    items = _items(view)
    names = [e["name"] for e in items]
    if not m or m.group(1) not in names:
        return None
    start, where = names.index(m.group(1)), m.group(2)
    moves = {"to the top": 0, "to the bottom": len(items) - 1, "down by one position": start + 1, "up by one position": start - 1}
    end = moves[where] if where in moves else ORDINALS[m.group(3)] - 1
    return _sort_move(items, start, end)


@oracle("drag-sort-numbers")
def drag_sort_numbers(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    """Bring the lowest number not yet in place up to its place, one drag a turn; Submit once sorted."""
    items = _items(view)
    if not items or not all(re.fullmatch(r"-?\d+", e["name"]) for e in items):
        return None
    values = [int(e["name"]) for e in items]
    for i, value in enumerate(sorted(values)):
        if values[i] != value:
            return _sort_move(items, values.index(value, i), i)
    return submit(view)


def _dragged(done: list[GuiAction]) -> bool:
    return any(a.name == "mouse_drag_and_drop" for a in done)


@oracle("drag-box")
def drag_box(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    """Drag the small box (s) to the large one's (L) centre, from a point of it that L does not cover; Submit."""
    small, large = first(view, name="s"), first(view, name="L")
    if small is None or large is None:
        return None
    if inside(small, large, slack=-1):
        return submit(view)
    grab = free_point(view, small)
    if grab is None:
        return None
    (x, y, w, h), (lx, ly, lw, lh) = small["box"], large["box"]
    to_x, to_y = grab[0] - (x + w / 2) + lx + lw / 2, grab[1] - (y + h / 2) + ly + lh / 2
    return act("mouse_drag_and_drop", from_x=grab[0], from_y=grab[1], to_x=round(to_x, 1), to_y=round(to_y, 1))


@oracle("resize-textarea", history=True)
def resize_textarea(instruction: str, fields: dict[str, Any], view: PageView, done: list[GuiAction]) -> GuiAction | None:
    """Drag the textarea's bottom-right resize handle 20 px the asked way, then Submit (the size it started
    at is not on the page any more, so whether it was resized comes from the history)."""
    m = re.search(r"the (width|height) is (larger|smaller)", instruction)
    area = first(view, tag="textarea")
    if not m or area is None:
        return None
    if _dragged(done):
        return submit(view)
    x, y, w, h = area["box"]
    grab = (x + w - 4, y + h - 4)  # inside the handle, drawn over the textarea's corner
    step = 20 if m.group(2) == "larger" else -20
    to_x, to_y = (grab[0] + step, grab[1]) if m.group(1) == "width" else (grab[0], grab[1] + step)
    return act("mouse_drag_and_drop", from_x=grab[0], from_y=grab[1], to_x=to_x, to_y=to_y)


@oracle("highlight-text", "highlight-text-2", history=True)
def highlight_text(instruction: str, fields: dict[str, Any], view: PageView, done: list[GuiAction]) -> GuiAction | None:
    """Select the (asked) paragraph by dragging from before its first letter to past its last line's end; Submit."""
    m = re.search(r"the (\w+) paragraph", instruction)
    texts = [e for e in view.elements if e["visible"] and e["tag"] in ("div", "p") and e["name"]]
    paragraphs = [e for e in texts if e["tag"] == "p"] or texts[:1]
    index = ORDINALS.get(m.group(1), 0) - 1 if m else 0
    if not 0 <= index < len(paragraphs):
        return None
    if _dragged(done):
        return submit(view)
    x, y, w, h = paragraphs[index]["box"]
    return act("mouse_drag_and_drop", from_x=x + 0.5, from_y=y + 3, to_x=x + w + 4, to_y=y + h - 3)


_SHAPE_TAGS = {"rectangles": "rect", "circles": "circle", "triangles": "polygon"}
_MOVES = {"up": (0, -20), "down": (0, 20), "left": (-20, 0), "right": (20, 0)}


def _drag_by(view: PageView, element: Element, dx: float, dy: float) -> GuiAction | None:
    grab = free_point(view, element)
    if grab is None:
        return None
    return act("mouse_drag_and_drop", from_x=grab[0], from_y=grab[1], to_x=round(grab[0] + dx, 1), to_y=round(grab[1] + dy, 1))


@oracle("drag-circle", "drag-single-shape", history=True)
def drag_shape(instruction: str, fields: dict[str, Any], view: PageView, done: list[GuiAction]) -> GuiAction | None:
    """Drag the one shape 20 px the asked way, then Submit (how far it has moved is not on the page)."""
    m = re.match(r"Drag the (?:circle|item) (up|down|left|right) then press Submit", instruction)
    shape = next((e for e in shown(view) if e["tag"] in ("circle", "rect", "polygon")), None)
    if not m or shape is None:
        return None
    return submit(view) if _dragged(done) else _drag_by(view, shape, *_MOVES[m.group(1)])


@oracle("drag-shapes")
def drag_shapes(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    """Drag each asked shape whose centre is outside the black box (the one 80 x 45 rect) to the box's centre."""
    m = re.match(r"Drag all (\w+) into the black box", instruction)
    rects = [e for e in shown(view) if e["tag"] == "rect"]
    if not m or m.group(1) not in _SHAPE_TAGS or not rects:
        return None
    box = max(rects, key=lambda e: e["box"][2] * e["box"][3])
    bx, by, bw, bh = box["box"]
    for shape in shown(view):
        x, y, w, h = shape["box"]
        centre = (x + w / 2, y + h / 2)
        held = bx + 3 < centre[0] < bx + bw - 3 and by + 3 < centre[1] < by + bh - 3
        if shape["tag"] == _SHAPE_TAGS[m.group(1)] and shape is not box and not held:
            return _drag_by(view, shape, bx + bw / 2 - centre[0], by + bh / 2 - centre[1])
    return submit(view)
