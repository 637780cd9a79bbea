"""MiniWoB oracles of the form family: type text, passwords, numbers, dates and times, pick from a
list, read the answer off the page (a table, a paragraph, a sum), then submit."""

from __future__ import annotations

import re
from typing import Any

from turngym.envs.gui.actions import GuiAction
from turngym.envs.gui.driver import PageView
from turngym.envs.gui.miniwob_oracles_kit import (
    ORDINALS,
    act,
    button,
    click,
    fill_then,
    find,
    first,
    focused,
    inside,
    oracle,
    props,
    quoted,
    shown,
    submit,
    textboxes,
)


def _fill_first_then_submit(view: PageView, text: str) -> GuiAction | None:
    boxes = textboxes(view)
    return fill_then(view, [(boxes[0], text)], button(view)) if boxes else None


@oracle("enter-text", "enter-text-dynamic")
def enter_text(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    return _fill_first_then_submit(view, quoted(instruction)[0])


@oracle("enter-text-2")
def enter_text_2(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    text = quoted(instruction)[0]
    return _fill_first_then_submit(view, text.lower() if "lower case" in instruction else text.upper())


@oracle("enter-password")
def enter_password(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    password = quoted(instruction)[0]
    return fill_then(view, [(box, password) for box in textboxes(view)], button(view))


@oracle("login-user")
def login_user(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    user, password = quoted(instruction)[:2]
    boxes = textboxes(view)
    return fill_then(view, list(zip(boxes, (user, password), strict=False)), button(view, "Login")) if len(boxes) == 2 else None


@oracle("choose-list")
def choose_list(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Select (.*) from the list", instruction)
    select = first(view, role="combobox")
    if not m or select is None:
        return None
    if select["value"] != m.group(1):
        return act("select_option", bid=select["bid"], options=m.group(1))
    return submit(view)


@oracle("read-table")
def read_table(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Enter the value of (.*) into the text field", instruction)
    cells = find(view, role="cell")
    at = next((i for i, c in enumerate(cells) if m and c["name"] == m.group(1)), None)
    return None if at is None or at + 1 >= len(cells) else _fill_first_then_submit(view, cells[at + 1]["name"])


@oracle("find-word")
def find_word(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"Find the (\w+) word", instruction)
    paragraph = first(view, role="paragraph")
    if not m or paragraph is None:
        return None
    words = paragraph["name"].split()
    n = ORDINALS.get(m.group(1), 0)
    return _fill_first_then_submit(view, re.sub(r"[^a-zA-Z0-9]", "", words[n - 1])) if 0 < n <= len(words) else None


@oracle("copy-paste")
def copy_paste(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    area = first(view, tag="textarea")
    box = next((e for e in textboxes(view) if e["tag"] == "input"), None)
    return None if area is None or box is None else fill_then(view, [(box, area["value"] or "")], button(view))


@oracle("copy-paste-2")
def copy_paste_2(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"from the (\w+) text area", instruction)
    areas = find(view, tag="textarea")
    box = next((e for e in textboxes(view) if e["tag"] == "input"), None)
    n = ORDINALS.get(m.group(1), 0) if m else 0
    if box is None or not 0 < n <= len(areas):
        return None
    return fill_then(view, [(box, areas[n - 1]["value"] or "")], button(view))


def _solve(expression: str) -> int | None:
    """``a + b =`` or an equation with one ``x`` (``a - x = c``) -> the integer answer."""
    m = re.fullmatch(r"\s*(-?\d+|x)\s*([+x*-])\s*(-?\d+|x)\s*=\s*(-?\d+|x)?\s*", expression)
    if not m:
        return None
    a, op, b, c = m.groups()
    apply = {"+": lambda p, q: p + q, "-": lambda p, q: p - q, "x": lambda p, q: p * q, "*": lambda p, q: p * q}[op]
    if c is None:
        return apply(int(a), int(b))
    for x in range(-1000, 1001):  # the one unknown, by search (small integers in MiniWoB)
        values = [x if v == "x" else int(v) for v in (a, b, c)]
        if apply(values[0], values[1]) == values[2]:
            return x
    return None


@oracle("simple-arithmetic", "simple-algebra")
def simple_math(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    problem = next((e for e in shown(view) if "=" in e["name"] and re.search(r"\d", e["name"])), None)
    answer = None if problem is None else _solve(problem["name"])
    return None if answer is None else _fill_first_then_submit(view, str(answer))


@oracle("enter-date")
def enter_date(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"(\d\d)/(\d\d)/(\d{4})", instruction)
    box = first(view, role="textbox")
    if not m or box is None:
        return None
    month, day, year = m.groups()
    if box["value"] == f"{year}-{month}-{day}":
        return submit(view)
    if focused(view) != box["bid"]:
        return act("focus", bid=box["bid"])
    return act("keyboard_type", text=f"{month}{day}{year}")


@oracle("enter-time")
def enter_time(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"(\d+):(\d\d) ?([AP]M)", instruction)
    box = first(view, role="textbox")
    if not m or box is None:
        return None
    hour, minute, half = int(m.group(1)) % 12, m.group(2), m.group(3)
    hour += 12 if half == "PM" else 0
    if box["value"] == f"{hour:02d}:{minute}":
        return submit(view)
    if focused(view) != box["bid"]:
        return act("focus", bid=box["bid"])
    return act("keyboard_type", text=f"{int(m.group(1)):02d}{minute}{half}")


@oracle("use-spinner")
def use_spinner(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"Select (-?\d+)", instruction)
    box = first(view, role="spinbutton")
    return None if not m or box is None else fill_then(view, [(box, m.group(1))], button(view))


@oracle("form-sequence")
def form_sequence(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Select (-?\d+) with the slider, click the (\w+) checkbox", instruction)
    elements = view.elements
    handle = next((e for e in elements if e["tag"] == "span" and e["visible"]), None)
    value = next((e for e in elements if e["tag"] == "div" and re.fullmatch(r"-?\d+", e["name"])), None)
    boxes = find(view, role="checkbox")
    if not m or handle is None or value is None:
        return None
    wanted, n = int(m.group(1)), ORDINALS.get(m.group(2), 0)
    if int(value["name"]) != wanted:
        gap = wanted - int(value["name"])  # PageUp/PageDown move a fifth of the range (4)
        key = ("PageUp" if gap > 0 else "PageDown") if abs(gap) >= 4 else ("ArrowRight" if gap > 0 else "ArrowLeft")
        return act("press", bid=handle["bid"], key_comb=key)
    for i, box in enumerate(boxes, 1):
        if box["checked"] != (i == n):
            return click(view, box)
    return submit(view)


@oracle("form-sequence-2")
def form_sequence_2(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r'Check the (\w+) radio button and enter the number "(-?\d+)" into the (\w+) textbox', instruction)
    radios, boxes = find(view, role="radio"), textboxes(view)
    if not m:
        return None
    r, number, t = ORDINALS.get(m.group(1), 0), m.group(2), ORDINALS.get(m.group(3), 0)
    if not (0 < r <= len(radios) and 0 < t <= len(boxes)):
        return None
    if not radios[r - 1]["checked"]:
        return click(view, radios[r - 1])
    return fill_then(view, [(box, number if i == t else "") for i, box in enumerate(boxes, 1)], button(view))


@oracle("form-sequence-3")
def form_sequence_3(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r'Choose (.*) from the dropdown, then click the button labeled "(.*)"', instruction)
    select = next((e for e in view.elements if e["tag"] == "select"), None)
    if not m or select is None:
        return None
    if select["value"] != m.group(1):
        return act("select_option", bid=select["bid"], options=m.group(1))
    target = button(view, m.group(2))
    return None if target is None else click(view, target)


@oracle("click-scroll-list")
def click_scroll_list(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Select (.*) from the scroll list and click Submit", instruction)
    select = first(view, role="listbox")
    if not m or select is None:
        return None
    wanted = [w.strip() for w in m.group(1).split(",")]
    chosen = [e["name"] for e in find(view, role="option") if " selected" in f" {props(view).get(e['bid'], '')}"]
    if sorted(chosen) != sorted(wanted):
        return act("select_option", bid=select["bid"], options=wanted)
    return submit(view)


_MOVIE_FIELDS = (("genre", "genre"), ("director", "name"), ("year", "year"), ("date", "year"))


def _label_of(view: PageView, field: dict[str, Any]) -> str:
    """The text of the smallest box around ``field`` that holds exactly one other named element."""
    named = [e for e in shown(view) if e["name"] and e is not field and e["role"] not in ("button", "table", "row")]
    around = [e for e in shown(view) if e is not field and inside(field, e, slack=4)]
    around.sort(key=lambda e: e["box"][2] * e["box"][3])
    for box in around:
        labels = [e for e in named if e is not box and inside(e, box, slack=4)]
        if len(labels) == 1:
            return labels[0]["name"]
    return field["name"]


@oracle("multi-layouts", "multi-orderings")
def multi_layouts(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Search for (.*) movies directed by (.*) from year (\d+)\.", instruction)
    if not m:
        return None
    values = dict(zip(("genre", "name", "year"), m.groups(), strict=True))
    wanted = []
    for box in textboxes(view):
        label = _label_of(view, box).lower()
        key = next((k for word, k in _MOVIE_FIELDS if word in label), None)
        if key is None:
            return None
        wanted.append((box, values[key]))
    go = next((e for e in shown(view) if e["name"] in ("Submit", "Search", "Go!") and e["role"] in ("button", "generic")), None)
    return fill_then(view, wanted, go)


@oracle("text-transform")
def text_transform(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    box = next((e for e in textboxes(view) if e["tag"] == "input"), None)
    if box is None:
        return None
    letters = [e for e in view.elements[: view.elements.index(box)] if e["tag"] == "span" and e["visible"]]
    return fill_then(view, [(box, "".join(e["name"] or " " for e in letters))], button(view))


@oracle("use-slider", "use-slider-2")
def use_slider(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    one = re.match(r"Select (-?\d+) with the slider", instruction)
    combo = re.match(r"Set the sliders to the combination \[([-\d, ]+)\]", instruction)
    wanted = [int(one.group(1))] if one else [int(v) for v in combo.group(1).split(",")] if combo else []
    handles = [e for e in shown(view) if e["tag"] == "span"]
    values = [e for e in shown(view) if e["tag"] == "div" and re.fullmatch(r"-?\d+", e["name"])]
    if not wanted or len(handles) != len(wanted) or len(values) != len(wanted):
        return None
    for handle, value, target in zip(handles, values, wanted, strict=True):
        gap = target - int(value["name"])
        if gap:
            # PageUp/PageDown move a fifth of the range (one slider's 0-20: 4; the other's unseen range: at most
            # 20, so from 15 on each one gets closer)
            page = 4 if combo else 15
            key = ("PageUp" if gap > 0 else "PageDown") if abs(gap) >= page else ("ArrowRight" if gap > 0 else "ArrowLeft")
            return act("press", bid=handle["bid"], key_comb=key)
    return submit(view)


@oracle("visual-addition")
def visual_addition(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    """Count the blocks (the unnamed spans that hold no other span: a group of one block is a span of a span)
    and type the total."""
    spans = [e for e in shown(view) if e["tag"] == "span" and not e["name"]]
    blocks = [e for e in spans if not any(o is not e and inside(o, e) for o in spans)]
    box = next((e for e in textboxes(view) if e["tag"] == "input"), None)
    return None if box is None or not blocks else fill_then(view, [(box, str(len(blocks)))], button(view))
