"""MiniWoB oracles of the drag family: reorder jQuery UI sortable lists with the mouse."""

from __future__ import annotations

import re
from typing import Any

from turngym.envs.gui.actions import GuiAction
from turngym.envs.gui.driver import PageView
from turngym.envs.gui.miniwob_oracles_kit import ORDINALS, Element, act, find, oracle, submit


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
