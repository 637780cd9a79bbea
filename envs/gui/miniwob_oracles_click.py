"""MiniWoB oracles of the click family: buttons, links, dialogs, options, checkboxes, tabs,
collapsible sections, widgets, trees."""

from __future__ import annotations

import functools
import re
from typing import Any

from turngym.envs.gui.actions import GuiAction
from turngym.envs.gui.driver import PageView
from turngym.envs.gui.miniwob_oracles_kit import (
    ORDINALS,
    act,
    button,
    click,
    click_text,
    find,
    first,
    inside,
    oracle,
    page_source,
    props,
    quoted,
    shown,
    submit,
)


@oracle("click-test")
def click_test(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    target = first(view, role="button")
    return None if target is None else click(view, target)


@oracle("click-test-2", "click-test-transfer")
def click_named_button(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"button (\S+?)\.?$", instruction)
    target = m and button(view, m.group(1))
    return None if not target else click(view, target)


@oracle("click-button", "unicode-test")
def click_quoted_button(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    target = first(view, role="button", name=quoted(instruction)[0])
    return None if target is None else click(view, target)


@oracle("click-button-sequence")
def click_button_sequence(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    one, two = button(view, "ONE"), button(view, "TWO")
    if one is None or two is None:
        return None
    # a clicked button keeps the focus: ONE focused means it was clicked
    return click(view, two if props(view).get(one["bid"], "").endswith("focused") else one)


def _link(view: PageView, text: str) -> dict[str, Any] | None:
    return next((e for e in shown(view) if e["tag"] == "span" and e["name"] == text), None)


@oracle("click-link")
def click_link(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    target = _link(view, quoted(instruction)[0])
    return None if target is None else click_text(view, target)


@oracle("click-menu")
def click_menu(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    """Select A>B>C: hover the deepest item of the path whose submenu is not open yet, then click the leaf."""
    m = re.match(r"Select (.+)$", instruction)
    if not m:
        return None
    path = m.group(1).split(">")
    items = {e["name"]: e for e in shown(view) if e["role"] == "menuitem"}
    deepest = max((i for i, name in enumerate(path) if name in items), default=None)
    if deepest is None:
        return None
    item = items[path[deepest]]
    return click(view, item) if deepest == len(path) - 1 else act("hover", bid=item["bid"])


@oracle("click-dialog")
def click_dialog(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    target = first(view, role="button", name="Close")
    return None if target is None else click(view, target)


@oracle("click-dialog-2")
def click_dialog_2(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    label = quoted(instruction)[0]
    target = first(view, role="button", name="Close" if label.lower() == "x" else label)
    return None if target is None else click(view, target)


@oracle("click-option")
def click_option(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Select (.*) and click Submit", instruction)
    radio = m and first(view, role="radio", name=m.group(1))
    if not radio:
        return None
    return submit(view) if radio["checked"] else click(view, radio)


@oracle("click-checkboxes", "click-checkboxes-large", "click-checkboxes-transfer")
def click_checkboxes(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Select (.*) and click Submit", instruction)
    if not m:
        return None
    wanted = set() if m.group(1) == "nothing" else {w.strip() for w in m.group(1).split(",")}
    for box in find(view, role="checkbox"):
        if box["checked"] != (box["name"] in wanted):
            return click(view, box)
    return submit(view)


@oracle("click-tab")
def click_tab(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"Tab #(\d+)", instruction)
    target = m and first(view, role="tab", name=f"Tab #{m.group(1)}")
    return None if not target else click(view, target)


@oracle("click-tab-2", "click-tab-2-easy", "click-tab-2-medium", "click-tab-2-hard")
def click_tab_2(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    target = _link(view, quoted(instruction)[0])
    if target is not None:
        return click_text(view, target)
    tabs = find(view, role="tab")  # not here: open the tab after the open one
    flags = props(view)
    open_at = next((i for i, t in enumerate(tabs) if "expanded=true" in flags.get(t["bid"], "")), -1)
    return click(view, tabs[(open_at + 1) % len(tabs)]) if tabs else None


def _sliding(view: PageView) -> bool:
    """Whether an accordion panel is opening or closing (its content overflows its clipped box)."""
    panel = None
    for e in shown(view):
        if e["role"] in ("tab", "tabpanel"):
            panel = e if e["role"] == "tabpanel" else None
        elif panel is not None and not inside(e, panel):
            return True
    return False


WAIT = act("noop", wait_ms=250)


@oracle("click-collapsible", "click-collapsible-nodelay")
def click_collapsible(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    if _sliding(view):
        return WAIT
    header = next((t for t in find(view, role="tab") if t["name"].startswith("Section")), None)
    if header is not None and "expanded=true" not in props(view).get(header["bid"], ""):
        return click(view, header)
    return submit(view)


@oracle("click-collapsible-2", "click-collapsible-2-nodelay")
def click_collapsible_2(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    if _sliding(view):
        return WAIT
    target = _link(view, quoted(instruction)[0])
    if target is not None:
        return click_text(view, target)
    headers = [t for t in find(view, role="tab") if t["name"].startswith("Section")]
    flags = props(view)
    open_at = next((i for i, t in enumerate(headers) if "expanded=true" in flags.get(t["bid"], "")), -1)
    return click(view, headers[(open_at + 1) % len(headers)]) if headers else None


_WIDGETS = {
    "radio": lambda e: e["role"] == "radio",
    "checkbox": lambda e: e["role"] == "checkbox",
    "text": lambda e: e["tag"] == "input" and e["role"] == "textbox",
    "textarea": lambda e: e["tag"] == "textarea",
    "button": lambda e: e["tag"] == "button",
}


@oracle("click-widget")
def click_widget(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    is_kind = _WIDGETS.get(quoted(instruction)[0])
    target = next((e for e in shown(view) if is_kind(e)), None) if is_kind else None
    return None if target is None else click(view, target)


@oracle("navigate-tree")
def navigate_tree(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    name = quoted(instruction)[0]
    target = next((e for e in shown(view) if e["tag"] == "span" and e["name"] == name), None)
    if target is not None:
        return click(view, target)
    # a folder is an item with a toggle (a small div) before its name; open, its list follows the name
    elements = view.elements
    for i, e in enumerate(elements[:-1]):
        if e["tag"] == "div" and e["visible"] and e["box"][2] <= 20 and elements[i + 1]["tag"] == "span":
            after = elements[i + 2] if i + 2 < len(elements) else None
            if after is None or after["tag"] != "ul":
                return click(view, elements[i + 1])
    return None


@oracle("focus-text")
def focus_text(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    target = first(view, role="textbox")
    return None if target is None else click(view, target)


@oracle("focus-text-2")
def focus_text_2(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"the (\w+) input", instruction)
    boxes = find(view, role="textbox")
    n = ORDINALS.get(m.group(1), 0) if m else 0
    return click(view, boxes[n - 1]) if 0 < n <= len(boxes) else None


_SHAPES = {"circle": "Circle", "rect": "Rectangle", "polygon": "Triangle"}


@oracle("identify-shape")
def identify_shape(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    shape = next((e for e in shown(view) if e["tag"] in (*_SHAPES, "text")), None)
    if shape is None:
        return None
    kind = _SHAPES.get(shape["tag"]) or ("Number" if shape["name"].isdigit() else "Letter")
    target = button(view, kind)
    return None if target is None else click(view, target)


@oracle("ascending-numbers")
def ascending_numbers(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    one = next((e for e in shown(view) if e["tag"] == "text" and e["name"] == "1"), None)
    if one is not None:
        return click(view, one)
    hidden = [e for e in shown(view) if e["tag"] == "rect"]  # covers over 2, 3, ... in that order
    return click(view, hidden[0]) if hidden else None


@functools.cache
def _synonyms() -> list[set[str]]:
    """click-checkboxes-soft's word groups, from its page's ``SYNONYMS``."""
    page = page_source("miniwob/click-checkboxes-soft.html")
    block = page[page.index("var SYNONYMS = [") : page.index("];", page.index("var SYNONYMS = ["))]
    return [set(re.findall(r"'([^']*)'", row)) for row in re.findall(r"\[([^\[\]]*)\]", block)]


@oracle("click-checkboxes-soft")
def click_checkboxes_soft(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Select words similar to (.*) and click Submit", instruction)
    if not m:
        return None
    words = {w.strip() for w in m.group(1).split(",")}
    similar = set().union(*(group for group in _synonyms() if group & words))
    for box in find(view, role="checkbox"):
        if box["checked"] != (box["name"] in similar):
            return click(view, box)
    return submit(view)
