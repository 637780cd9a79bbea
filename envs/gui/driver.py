"""What happens in the page: performing a ``GuiAction`` and reading the page back (async, on the
pool's loop). No fixed sleeps: after an action that leaves the page, the driver waits for the next
document's ``load`` event; otherwise the page has already handled the input events when the
browser acknowledges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turngym.envs.gui.actions import GuiAction
from turngym.envs.gui.browser import BrowserCrashed, Tab

PAGE_JS = (Path(__file__).with_name("page.js")).read_text()
NAVIGATION_TIMEOUT_S = 10.0
ACTION_TIMEOUT_MS = 2_000
DRAG_STEP_PX = 5  # mouse_drag_and_drop moves in steps of about this many pixels
SETTLE_MS = 2_000  # the longest wait for the page's animations and short timers to end before it is observed


class ActionFailed(Exception):
    """The action could not be performed in the page (no such element, not visible, bad key ...)."""


@dataclass
class PageView:
    """The page after a step: its tree lines and element table, title and URL, and ``status``
    (what the env's task reads from the page, e.g. MiniWoB's reward globals)."""

    lines: list[str]
    elements: list[dict[str, Any]]
    title: str = ""
    url: str = ""
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def element(self, bid: str) -> dict[str, Any] | None:
        return next((e for e in self.elements if e["bid"] == bid), None)


async def install(tab: Tab) -> None:
    """Make every document of the tab's context carry ``window.__tg``; count page loads."""
    await tab.context.add_init_script(PAGE_JS)
    tab.state["loads"] = 0
    loaded = tab.state["loaded"] = asyncio.Event()

    def on_load(_page: Any) -> None:
        tab.state["loads"] = tab.state.get("loads", 0) + 1
        loaded.set()

    tab.page.on("load", on_load)


async def goto(tab: Tab, url: str) -> None:
    tab.check()
    try:
        await tab.page.goto(url, wait_until="load", timeout=NAVIGATION_TIMEOUT_S * 1000)
    except Exception as exc:
        _raise_if_crashed(tab, exc)
        raise


async def evaluate(tab: Tab, expression: str, arg: Any = None) -> Any:
    """``page.evaluate`` that waits out a navigation in progress and names a dead browser."""
    tab.check()
    for attempt in range(3):
        try:
            return await tab.page.evaluate(expression, arg)
        except Exception as exc:
            _raise_if_crashed(tab, exc)
            if attempt == 2 or "context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
            await _wait_for_load(tab, tab.state.get("loads", 0) - 1)
    raise AssertionError("unreachable")


async def observe(
    tab: Tab, *, skip: tuple[str, ...] = (), boxes: bool = False, reset_bids: bool = False, status_js: str | None = None
) -> PageView:
    """The page as tree lines and an element table (bids assigned in document order), read once
    the page's animations (CSS, Web Animations, jQuery) have ended and its short timers (a
    ``setTimeout`` of at most 1 s) have run, in one call to the page; a page
    that is being left is read once the next document has loaded. ``status_js``: a JS function
    whose value, read in the same call, lands in ``PageView.status``."""
    script = _OBSERVE_JS.replace("STATUS", status_js or "() => ({})")
    options = {"skip": list(skip), "boxes": boxes, "settle_ms": SETTLE_MS, "reset": reset_bids}
    for _ in range(3):
        loads = tab.state.get("loads", 0)
        raw = await evaluate(tab, script, options)
        if raw is not None and raw.get("leaving"):  # the action left the page: read the next one
            await _wait_for_load(tab, loads)
            continue
        if raw is not None:
            return PageView(raw["lines"], raw["elements"], raw["title"], raw["url"], raw["status"])
        await tab.page.wait_for_load_state("domcontentloaded", timeout=NAVIGATION_TIMEOUT_S * 1000)
    raise ActionFailed("the page has no body to read (it did not finish loading)")


_OBSERVE_JS = """async (o) => {
  const tg = window.__tg;
  if (o.reset) tg.reset();
  await tg.settle(o.settle_ms);
  if (tg.leaving) return { leaving: true };
  const view = tg.observe(o);
  if (view) view.status = (STATUS)();
  return view;
}"""


async def screenshot(tab: Tab, *, marks: bool = False) -> bytes:
    """A PNG of the viewport once the images it shows are decoded (waited for at most
    ``NAVIGATION_TIMEOUT_S``); with ``marks``, each element's box and bid drawn on it (set-of-marks)."""
    with contextlib.suppress(asyncio.TimeoutError):  # an image that never comes is left out, not waited on
        await asyncio.wait_for(evaluate(tab, "() => window.__tg.imagesShown()"), NAVIGATION_TIMEOUT_S)
    if marks:
        await evaluate(tab, "() => window.__tg.marks(true)")
    try:
        return await _stable_screenshot(tab)
    except Exception as exc:
        _raise_if_crashed(tab, exc)
        raise
    finally:
        if marks:
            await evaluate(tab, "() => window.__tg.marks(false)")


async def perform(tab: Tab, action: GuiAction, *, settle: bool = True) -> str:
    """Perform ``action``; returns feedback for the model ("" when there is none to give).
    Raises ``ActionFailed`` when the page cannot do it and ``BrowserCrashed`` when the tab died.
    ``settle``: wait here for a page the action left to load (``observe`` does it otherwise)."""
    loads = tab.state.get("loads", 0)
    try:
        feedback = await _perform(tab, action)
    except (ActionFailed, BrowserCrashed):
        raise
    except Exception as exc:
        _raise_if_crashed(tab, exc)
        raise ActionFailed(f"{action.name} failed: {_first_line(exc)}") from exc
    if settle:
        await _settle(tab, loads)
    return feedback


async def _perform(tab: Tab, action: GuiAction) -> str:
    page, name, args = tab.page, action.name, action.args
    mouse, keyboard = page.mouse, page.keyboard
    if name in ("click", "dblclick", "hover", "fill", "clear", "select_option", "press", "focus"):
        target = await _target(tab, args["bid"])
        x, y = target["x"], target["y"]
        if name in ("click", "dblclick"):
            for key in args.get("modifiers", []):
                await keyboard.down(key)
            try:
                click = mouse.click if name == "click" else mouse.dblclick
                await click(x, y, button=args.get("button", "left"))
            finally:
                for key in reversed(args.get("modifiers", [])):
                    await keyboard.up(key)
        elif name == "hover":
            await mouse.move(x, y)
        elif name == "fill":
            if not target["editable"]:
                raise ActionFailed(f"element {args['bid']} is a {target['tag']}, not an input or text area: it cannot be filled")
            await evaluate(tab, "([b]) => window.__tg.focus(b, true)", [args["bid"]])
            if args["value"]:
                await keyboard.insert_text(args["value"])
        elif name == "clear":
            if not target["editable"]:
                raise ActionFailed(f"element {args['bid']} is a {target['tag']}, which cannot be cleared")
            await evaluate(tab, "([b]) => window.__tg.focus(b, true)", [args["bid"]])
        elif name == "select_option":
            wanted = [args["options"]] if isinstance(args["options"], str) else list(args["options"])
            problem = await evaluate(tab, "([b, w]) => window.__tg.select(b, w)", [args["bid"], wanted])
            if problem:
                raise ActionFailed(problem)
        elif name == "focus":
            await evaluate(tab, "([b]) => window.__tg.focus(b, false)", [args["bid"]])
        else:  # press
            await evaluate(tab, "([b]) => window.__tg.focus(b, false)", [args["bid"]])
            await keyboard.press(args["key_comb"])
        return ""
    if name == "drag_and_drop":
        source, target = await _target(tab, args["from_bid"]), await _target(tab, args["to_bid"])
        await mouse.move(source["x"], source["y"])
        await mouse.down()
        await mouse.move(target["x"], target["y"], steps=4)
        await mouse.up()
    elif name == "scroll":
        await mouse.wheel(args["delta_x"], args["delta_y"])
        await evaluate(tab, "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    elif name == "mouse_drag_and_drop":
        start, end = (args["from_x"], args["from_y"]), (args["to_x"], args["to_y"])
        _check_point(tab, *start)
        _check_point(tab, *end)
        await mouse.move(*start)
        await mouse.down()
        # one mousemove per DRAG_STEP_PX: drag-and-drop libraries react to each move, not to jumps
        await mouse.move(*end, steps=max(4, round(math.dist(start, end) / DRAG_STEP_PX)))
        await mouse.up()
    elif name in ("mouse_move", "mouse_click", "mouse_dblclick", "mouse_down", "mouse_up"):
        _check_point(tab, args["x"], args["y"])
        button = args.get("button", "left")
        if name == "mouse_click":
            await mouse.click(args["x"], args["y"], button=button)
        elif name == "mouse_dblclick":
            await mouse.dblclick(args["x"], args["y"], button=button)
        else:
            await mouse.move(args["x"], args["y"])
            if name == "mouse_down":
                await mouse.down(button=button)
            elif name == "mouse_up":
                await mouse.up(button=button)
    elif name == "keyboard_type":
        await keyboard.type(args["text"])
    elif name == "keyboard_press":
        await keyboard.press(args["key"])
    elif name in ("go_back", "go_forward"):
        move = page.go_back if name == "go_back" else page.go_forward
        if await move(wait_until="load", timeout=NAVIGATION_TIMEOUT_S * 1000) is None:
            return f"there is no page to go {name.removeprefix('go_')} to"
    elif name == "noop":
        await asyncio.sleep(float(args.get("wait_ms", 1000)) / 1000)
    elif name == "send_msg_to_user":
        return ""
    else:
        raise ActionFailed(f"unknown action {name!r}")
    return ""


async def _target(tab: Tab, bid: str) -> dict[str, Any]:
    target = await evaluate(tab, "([b]) => window.__tg.target(b)", [bid])
    if "error" in target:
        raise ActionFailed(target["error"])
    return target


async def _stable_screenshot(tab: Tab, tries: int = 4) -> bytes:
    """A picture taken once two in a row agree: images the page just inserted decode asynchronously,
    and a loaded machine may capture them half painted (at most ``tries`` captures)."""
    last = await tab.page.screenshot(type="png", timeout=ACTION_TIMEOUT_MS * 5)
    for _ in range(tries - 1):
        shot = await tab.page.screenshot(type="png", timeout=ACTION_TIMEOUT_MS * 5)
        if shot == last:
            break
        last = shot
    return last


def _check_point(tab: Tab, x: float, y: float) -> None:
    size = tab.pool.viewport
    if not (0 <= x <= size["width"] and 0 <= y <= size["height"]):
        raise ActionFailed(f"the point ({x:g}, {y:g}) is outside the {size['width']}x{size['height']} viewport")


async def _settle(tab: Tab, loads_before: int) -> None:
    """If the action made the page leave (a link, a form), wait for the next document's load."""
    try:
        leaving = await tab.page.evaluate("() => !window.__tg || window.__tg.leaving")
    except Exception as exc:  # the old document is already gone: a navigation is under way
        _raise_if_crashed(tab, exc)
        leaving = True
    if leaving:
        await _wait_for_load(tab, loads_before)


async def _wait_for_load(tab: Tab, loads_before: int) -> None:
    deadline = asyncio.get_running_loop().time() + NAVIGATION_TIMEOUT_S
    loaded: asyncio.Event = tab.state.setdefault("loaded", asyncio.Event())
    while tab.state.get("loads", 0) <= loads_before:
        tab.check()  # a page that crashed never loads: looked at every 50 ms
        if asyncio.get_running_loop().time() > deadline:
            raise ActionFailed(f"the page did not finish loading within {NAVIGATION_TIMEOUT_S:g} s")
        loaded.clear()
        if tab.state.get("loads", 0) <= loads_before:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(loaded.wait(), 0.05)


def _raise_if_crashed(tab: Tab, exc: BaseException) -> None:
    text = str(exc)
    if isinstance(exc, BrowserCrashed):
        raise exc
    if not tab.alive or "Target crashed" in text or "has been closed" in text or "Browser closed" in text:
        tab.crashed = tab.crashed or f"the browser or page died ({_first_line(exc)})"
        raise BrowserCrashed(tab.crashed) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
