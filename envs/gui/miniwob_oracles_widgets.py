"""MiniWoB oracles of widget tasks: autocomplete, search results over pages, a terminal, a grid, a
number to guess or generate, popups, scrolled text, per-row choices, posts with icon buttons."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from turngym.envs.gui.actions import GuiAction
from turngym.envs.gui.driver import PageView
from turngym.envs.gui.miniwob_oracles_kit import (
    act,
    button,
    click,
    click_text,
    clicked,
    fill_then,
    find,
    first,
    focused,
    oracle,
    quoted,
    shown,
    submit,
    textboxes,
)


@oracle("use-autocomplete", "use-autocomplete-nodelay")
def use_autocomplete(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    parts = quoted(instruction)
    start, end = parts[0], parts[1] if len(parts) > 1 else ""
    box = first(view, role="textbox")
    if box is None:
        return None
    return _autocomplete(
        view, box, start, lambda text: text.startswith(start) and text.endswith(end) and text != start
    ) or submit(view)


@oracle("search-engine")
def search_engine(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"click the (\d+)\w\w search result", instruction)
    box, search = first(view, role="textbox"), button(view, "Search")
    if not m or box is None or search is None:
        return None
    text, n = quoted(instruction)[0], int(m.group(1))
    if box["value"] != text:
        return act("fill", bid=box["bid"], value=text)
    links = find(view, role="link")
    pages = [e for e in links if e["name"] in ("<", ">") or e["name"].isdigit()]
    results = [e for e in links if e not in pages]
    if not results:
        return click(view, search)
    names = {e["name"] for e in pages}  # 3 pages: "<" hidden on the first, ">" on the last
    page = 1 if "<" not in names else 3 if ">" not in names else 2
    wanted = (n - 1) // 3 + 1
    if page != wanted:
        target = next((e for e in pages if e["name"] == str(wanted)), None)
        return None if target is None else click(view, target)
    return click(view, results[(n - 1) % 3]) if (n - 1) % 3 < len(results) else None


_MENU = ("Share via DM", "Copy link to Tweet", "Embed Tweet", "Mute", "Block", "Report")
_ICONS = {"Reply": 0, "Retweet": 1, "Like": 2}


@oracle("social-media")
def social_media(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r'For the user (\S+), click on the "(.*)" button', instruction)
    if not m:
        return None
    user, action = m.groups()
    elements = view.elements
    at = next((i for i, e in enumerate(elements) if e["tag"] == "span" and e["name"] == user), None)
    if at is None:
        return None
    # the post: name, @user, spacer, time | body | controls: reply, retweet, like, (more, its menu)
    controls = next(i for i in range(at + 1, len(elements)) if elements[i]["tag"] == "div" and not elements[i]["name"])
    spans = elements[controls + 1 : controls + 6]
    if action in _ICONS:
        return click(view, spans[_ICONS[action]])
    menu = elements[controls + 6 : controls + 13]
    item = next((e for e in menu if e["tag"] == "li" and e["visible"] and e["name"].split(" @")[0] == action), None)
    return click(view, item) if item is not None else click(view, spans[4])


_POST_ICONS = ("Reply", "Retweet", "Like", "Share")  # social-media-all and -some: a post's controls, in order


@oracle("social-media-all", "social-media-some", history=True)
def social_media_posts(instruction: str, fields: dict[str, Any], view: PageView, done: list[GuiAction]) -> GuiAction | None:
    """Click the asked icon on all (or N) posts by the user, then Submit. An icon toggles and its state is
    not shown, so the icons already clicked come from the episode's history (each is clicked once)."""
    m = re.match(r'Click the "(\w+)" button on (all|\d+) posts? by (\S+) and then click Submit', instruction)
    if not m or m.group(1) not in _POST_ICONS:
        return None
    action, amount, user = m.groups()
    elements = view.elements
    icons = []
    for at, e in enumerate(elements):  # the post: name, @user | body | controls: reply, retweet, like, share
        if e["tag"] == "span" and e["name"] == user:
            controls = next(i for i in range(at + 1, len(elements)) if elements[i]["tag"] == "div" and not elements[i]["name"])
            icons.append(elements[controls + 1 + _POST_ICONS.index(action)])
    wanted = len(icons) if amount == "all" else int(amount)
    todo = [e for e in icons if not clicked(e, done)]
    if len(icons) - len(todo) < wanted and todo:
        return click(view, todo[0])
    return submit(view)


@oracle("sign-agreement", history=True)
def sign_agreement(instruction: str, fields: dict[str, Any], view: PageView, done: list[GuiAction]) -> GuiAction | None:
    """Cancel, or scroll the (disabled) agreement to its end with the wheel over it, which enables the name
    field and Agree; then fill the name and press the asked button."""
    area, name = first(view, tag="textarea"), first(view, tag="input")
    m = re.search(r'enter the name "(.*?)" then press "(\w+)"', instruction)
    if area is None or name is None:
        return None
    if not m:
        cancel = button(view, "Cancel")
        return None if cancel is None else click(view, cancel)
    if name["enabled"]:
        return fill_then(view, [(name, m.group(1))], button(view, m.group(2)))
    x, y, w, h = area["box"]
    if done and done[-1].name == "mouse_move":  # the mouse is over the agreement: the wheel scrolls it
        return act("scroll", delta_x=0, delta_y=10_000)
    return act("mouse_move", x=x + w / 2, y=y + h / 2)


@oracle("login-user-popup")
def login_user_popup(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    cancel = button(view, "Cancel")
    if cancel is not None:  # the popup: stay on the page
        return click(view, cancel)
    user, password = quoted(instruction)[:2]
    boxes = textboxes(view)
    login = button(view, "OK")
    return fill_then(view, list(zip(boxes, (user, password), strict=False)), login) if len(boxes) == 2 else None


@oracle("read-table-2")
def read_table_2(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    cells = find(view, role="cell")
    table = {cells[i]["name"]: cells[i + 1]["name"] for i in range(0, len(cells) - 1, 2)}
    labels = find(view, role="LabelText")
    boxes = textboxes(view)
    wanted = [(box, table.get(label["name"].rstrip(":"), "")) for label, box in zip(labels, boxes, strict=False)]
    return fill_then(view, wanted, button(view)) if len(labels) == len(boxes) else None


@oracle("scroll-text")
def scroll_text(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    area, box = first(view, tag="textarea"), next((e for e in textboxes(view) if e["tag"] == "input"), None)
    if area is None or box is None:
        return None
    words = (area["value"] or "").split()
    last = re.sub(r"[^\w]", "", words[-1]) if words else ""
    return fill_then(view, [(box, last)], button(view))


@oracle("scroll-text-2")
def scroll_text_2(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    area = first(view, tag="textarea")
    if area is None:
        return None
    if focused(view) == area["bid"]:  # scrolled by the key press that focused it
        return submit(view)
    return act("press", bid=area["bid"], key_comb="Control+End" if "bottom" in instruction else "Control+Home")


@oracle("odd-or-even")
def odd_or_even(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    numbers = [e for e in shown(view) if re.fullmatch(r"-?\d+", e["name"]) and e["role"] == "generic"]
    choices = []
    for number in numbers:
        kind = "Odd" if int(number["name"]) % 2 else "Even"
        row = [b for b in find(view, role="button", name=kind) if abs(b["box"][1] - number["box"][1]) <= 3]
        if row:
            choices.append(row[0])
    # a clicked button keeps the focus: rows are marked top to bottom, the focus says how far
    now = focused(view)
    done = next((i + 1 for i, c in enumerate(choices) if c["bid"] == now), 0)
    return click(view, choices[done]) if done < len(choices) else submit(view)


@oracle("guess-number")
def guess_number(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    box = first(view, role="spinbutton")
    if box is None:
        return None
    m = re.search(r"number is (higher|lower) than'\n\t*\[\d+\] generic '(\d+)'", view.text)
    guess = 5 if not m else int(m.group(2)) + (1 if m.group(1) == "higher" else -1)
    return fill_then(view, [(box, str(guess))], button(view))


@oracle("generate-number")
def generate_number(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    shown_number = next((e for e in shown(view) if re.fullmatch(r"-?\d+|-", e["name"]) and e["role"] == "generic"), None)
    number = int(shown_number["name"]) if shown_number is not None and shown_number["name"] != "-" else None
    less, more = re.search(r"less than (\d+)", instruction), re.search(r"greater than (\d+)", instruction)
    ok = number is not None and (
        (less and number < int(less.group(1)))
        or (more and number > int(more.group(1)))
        or ("odd number" in instruction and number % 2 == 1)
        or ("even number" in instruction and number % 2 == 0)
    )
    target = button(view, "Submit" if ok else "Generate")
    return None if target is None else click(view, target)


@oracle("terminal")
def terminal(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"extension \.(\S+)", instruction)
    elements = view.elements
    target = next((e for e in elements if e["tag"] == "input"), None)
    prompts = [i for i, e in enumerate(elements) if e["name"] == "user$"]
    if target is None or not prompts or prompts[-1] + 1 >= len(elements):
        return None
    after = elements[prompts[-1] + 1]
    typed = after["name"] if after["tag"] == "span" and after["name"] != "\u2588" else ""  # not the cursor
    spans = [e for e in elements if e["tag"] == "span" and e["name"] not in ("user$", "\u2588")]
    listed = [spans[i + 1]["name"] for i in range(len(spans) - 1) if spans[i]["name"] == "ls"]
    command = "ls"
    if listed:
        files = listed[-1].split()
        pick = [f for f in files if (f.endswith("." + m.group(1)) if m else "." not in f)]
        command = f"rm {pick[0]}" if pick else "ls"
    if typed == command:
        return act("keyboard_press", key="Enter")
    if focused(view) != target["bid"]:
        return act("focus", bid=target["bid"])
    return act("keyboard_type", text=command) if not typed else act("keyboard_press", key="Backspace")


@oracle("grid-coordinate")
def grid_coordinate(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"\((-?\d+),\s*(-?\d+)\)", instruction)
    circles = find(view, tag="circle")
    if not m or not circles:
        return None
    xs = sorted({c["box"][0] for c in circles})
    ys = sorted({c["box"][1] for c in circles}, reverse=True)  # up the page is +y
    x, y = int(m.group(1)) + len(xs) // 2, int(m.group(2)) + len(ys) // 2
    if not (0 <= x < len(xs) and 0 <= y < len(ys)):
        return None
    target = next(c for c in circles if c["box"][0] == xs[x] and c["box"][1] == ys[y])
    return click(view, target)


@oracle("phone-book")
def phone_book(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Find (.*) in the contact book and click on their (phone|email|address)", instruction)
    name = first(view, role="heading")
    if not m or name is None:
        return None
    if name["name"] == m.group(1):
        details = [e for e in shown(view) if e["tag"] == "a" and e["role"] != "link"]  # phone, email, address
        index = ("phone", "email", "address").index(m.group(2))
        return click_text(view, details[index]) if index < len(details) else None
    forward = first(view, role="link", name=">")
    return None if forward is None else click(view, forward)


@oracle("choose-date", "choose-date-easy", "choose-date-medium", "choose-date-nodelay")
def choose_date(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.search(r"\d\d/\d\d/\d{4}", instruction)
    box = first(view, role="textbox")
    if not m or box is None:
        return None
    return _day_picker(view, box, m.group(0)) or submit(view)


def _minutes(text: str) -> int:
    m = re.fullmatch(r"(\d+)h (\d+)m", text)
    return int(m.group(1)) * 60 + int(m.group(2)) if m else -1


@oracle("buy-ticket")
def buy_ticket(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    books = [b for b in find(view, role="button") if b["name"].startswith("Book for $")]
    durations = [e for e in shown(view) if _minutes(e["name"]) >= 0]
    if not books or len(durations) != len(books):
        return None
    price = [int(b["name"].removeprefix("Book for $")) for b in books]
    minutes = [_minutes(d["name"]) for d in durations]
    score = {"cheapest": [-p for p in price], "most expensive": price, "shortest": [-m for m in minutes], "longest": minutes}
    key = next((k for k in score if k in instruction), None)
    if key is None:
        return None
    best = max(range(len(books)), key=lambda i: score[key][i])
    return click(view, books[best])


def _food_items(view: PageView) -> list[tuple[str, set[str], int, dict[str, Any], dict[str, Any]]]:
    """Each menu item: name, types (its icons' names), quantity, its "-" and "+" (page order)."""
    elements, items = view.elements, []
    for i, e in enumerate(elements):
        if e["tag"] == "span" and e["name"] == "-" and i + 2 < len(elements):
            at = max(j for j in range(i) if elements[j]["tag"] == "div" and elements[j]["name"])
            types = {t["name"] for t in elements[at:i] if t["tag"] == "img"}
            quantity = int(elements[i + 1]["name"] or 0)
            items.append((elements[at]["name"], types, quantity, e, elements[i + 2]))
    return items


@oracle("order-food")
def order_food(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    by_name = re.match(r"Order one of each item: (.*)$", instruction)
    by_type = re.match(r"Order (\d+) items that are (.*)$", instruction)
    items = _food_items(view)
    if by_name:
        names = {n.strip() for n in by_name.group(1).split(", ")}
        wanted = {name: 1 if name in names else 0 for name, *_ in items}
    elif by_type:  # all of them as one item of that type
        kind = next((item for item in items if by_type.group(2) in item[1]), None)
        wanted = {name: int(by_type.group(1)) if kind and name == kind[0] else 0 for name, *_ in items}
    else:
        return None
    for name, _, quantity, minus, plus in items:
        if quantity != wanted[name]:
            return click(view, plus if quantity < wanted[name] else minus)
    order = button(view, "Order!")
    return None if order is None else click(view, order)


def _autocomplete(view: PageView, field: dict[str, Any], text: str, fits: Callable[[str], bool]) -> GuiAction | None:
    """Type ``text`` into an autocomplete field and pick the suggestion that ``fits``; None when the
    field already holds one."""
    if fits(field["value"] or ""):
        return None
    for item in (e for e in shown(view) if e["role"] in ("menuitem", "listitem")):
        if fits(item["name"]):
            return click(view, item)
    if field["value"] != text:
        return act("fill", bid=field["bid"], value=text)
    return act("press", bid=field["bid"], key_comb="ArrowDown")  # no suggestions yet: ask for them now


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November")
_MONTHS += ("December",)


def _day_picker(view: PageView, field: dict[str, Any], date: str) -> GuiAction | None:
    """Pick ``date`` (mm/dd/yyyy) in the jQuery UI date picker of ``field``; None when it is set.
    (The picker's field drops typed text: the calendar it is.)"""
    if field["value"] == date:
        return None
    month = next((e for e in shown(view) if e["name"] in _MONTHS), None)
    year = next((e for e in shown(view) if re.fullmatch(r"\d{4}", e["name"]) and e["role"] == "generic"), None)
    if month is None or year is None:  # the calendar opens on a click in the field
        return click(view, field)
    mm, dd, yyyy = date.split("/")
    shown_at, wanted_at = int(year["name"]) * 12 + _MONTHS.index(month["name"]), int(yyyy) * 12 + int(mm) - 1
    if shown_at != wanted_at:
        step = first(view, name="Next" if wanted_at > shown_at else "Prev")
        return None if step is None else click(view, step)
    day = first(view, role="link", name=str(int(dd)))
    return None if day is None else click(view, day)


def _place_fits(place: str) -> Callable[[str], bool]:
    """A suggestion "City, ST (ABC)" fits a city or an airport code given alone."""
    return lambda item: item.startswith(place + " (") or item.endswith(f"({place})")


@oracle("book-flight", "book-flight-nodelay")
def book_flight(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    m = re.match(r"Book the (cheapest|shortest) one-way flight from: (.+) to: (.+) on (\d\d/\d\d/\d{4})\.", instruction)
    if not m:
        return None
    kind, origin, destination, date = m.groups()
    books = [b for b in find(view, role="button") if b["name"].startswith("Book flight for $")]
    if books:  # the results: each flight's duration, then its price on its button
        durations = [_minutes(e["name"]) for e in shown(view) if _minutes(e["name"]) >= 0]
        if len(durations) != len(books):
            return None
        prices = [int(b["name"].removeprefix("Book flight for $")) for b in books]
        cost = prices if kind == "cheapest" else durations
        return click(view, books[cost.index(min(cost))])
    boxes = textboxes(view)
    search = button(view, "Search")
    if len(boxes) < 3 or search is None:
        return None
    for step in (
        _autocomplete(view, boxes[0], origin, _place_fits(origin)),
        _autocomplete(view, boxes[1], destination, _place_fits(destination)),
        _day_picker(view, boxes[2], date),
    ):
        if step is not None:
            return step
    return click(view, search)
