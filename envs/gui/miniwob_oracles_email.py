"""MiniWoB oracles of the email inbox tasks: find the email by a sender, then reply, forward,
delete (trash icon) or mark it important (star icon). The NL variants' pages give their fields."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from turngym.envs.gui.actions import GuiAction
from turngym.envs.gui.driver import PageView
from turngym.envs.gui.miniwob_oracles_kit import act, click, first, oracle, page_source, shown

_PATTERNS = (
    (r'Find the email by (?P<by>.+?) and reply to them with the text "(?P<message>.*)"\.$', "reply"),
    (r"Find the email by (?P<by>.+?) and forward that email to (?P<to>.+?)\.$", "forward"),
    (r"Find the email by (?P<by>.+?) and click the trash icon", "delete"),
    (r"Find the email by (?P<by>.+?) and click the star icon", "important"),
)


_SLOTS = (("NAME", r"(?P<by>[A-Za-z-]+)"), ("DEST", r"(?P<to>[A-Za-z-]+)"), ("MSG", "(?P<message>.+?)"))


def _pattern(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for slot, group in _SLOTS:
        pattern = pattern.replace(slot, group, 1)
    return re.compile(pattern + r"\Z", re.S)


@functools.cache
def _nl_templates() -> list[tuple[str, re.Pattern[str]]]:
    """The NL tasks' instruction templates (the page's own ``templates.js``), test ones first, as
    patterns; like the page, only the first NAME, DEST and MSG of a template are filled."""
    text = page_source("common/special/email-inbox-nl/templates.js")
    templates = json.loads(text[text.index("{") : text.rindex("}") + 1])
    out = []
    for mode in ("test", "train"):
        for task, by_mode in templates.items():
            for template in by_mode[mode]:
                pattern = re.escape(template)
                for slot, group in (
                    ("NAME", r"(?P<by>[A-Za-z-]+)"),
                    ("DEST", r"(?P<to>[A-Za-z-]+)"),
                    ("MSG", "(?P<message>.+?)"),
                ):
                    pattern = pattern.replace(slot, group, 1)
                out.append((task, re.compile(pattern + r"\Z", re.S)))
    return out


@functools.cache
def _forward_templates() -> list[tuple[str, re.Pattern[str]]]:
    """email-inbox-forward-nl's templates, kept in its page (``TEST_NL_TEMPLATES`` first)."""
    page = page_source("miniwob/email-inbox-forward-nl.html")
    out = []
    for name in ("TEST_NL_TEMPLATES", "NL_TEMPLATES"):
        block = page[page.index(f"var {name} = [") : page.index("];", page.index(f"var {name} = ["))]
        out += [("forward", _pattern(t)) for t in re.findall(r"'((?:[^'\\]|\\.)*)'", block)]
    return out


def _email_task(instruction: str, fields: dict[str, Any]) -> dict[str, str] | None:
    """task (reply, forward, delete, important), by, and to or message: from the page's fields
    (NL tasks in train mode), the fixed instructions, or the NL templates."""
    if fields.get("by"):
        task = {"star": "important"}.get(fields.get("task", "forward"), fields.get("task", "forward"))
        return {**fields, "task": task}
    for pattern, task in _PATTERNS:
        m = re.match(pattern, instruction)
        if m:
            return {"task": task, **m.groupdict()}
    for task, pattern in [*_nl_templates(), *_forward_templates()]:
        m = pattern.match(instruction)
        if m:
            return {"task": task, **m.groupdict()}
    return None


def _icons(view: PageView, after: int = 0) -> list[dict[str, Any]]:
    """The unnamed spans (icons) from element ``after`` on, in page order."""
    return [e for e in view.elements[after:] if e["tag"] == "span" and e["visible"] and not e["name"]]


@oracle(
    "email-inbox",
    "email-inbox-delete",
    "email-inbox-forward",
    "email-inbox-forward-nl",
    "email-inbox-forward-nl-turk",
    "email-inbox-important",
    "email-inbox-nl-turk",
    "email-inbox-noscroll",
    "email-inbox-reply",
    "email-inbox-star-reply",
)
def email_inbox(instruction: str, fields: dict[str, Any], view: PageView) -> GuiAction | None:
    goal = _email_task(instruction, fields)
    if goal is None:
        return None
    task, by = goal["task"], goal["by"]
    to_label = next((e for e in shown(view) if e["role"] == "LabelText" and e["name"] == "to:"), None)
    if to_label is not None:  # writing: the reply's text or the forward's recipient, then send (the 2nd icon)
        if task == "reply":
            field, value = first(view, tag="textarea"), goal.get("message", "")
        else:
            field, value = next((e for e in shown(view) if e["tag"] == "input"), None), goal.get("to", "")
        if field is None:
            return None
        if (field["value"] or "") != value:
            return act("fill", bid=field["bid"], value=value)
        icons = _icons(view)
        return click(view, icons[1]) if len(icons) > 1 else None
    reply = first(view, name="Reply")
    if reply is not None:  # an open email: its bar holds close, trash, star
        icons = _icons(view)
        if task == "reply":
            return click(view, reply)
        if task == "forward":
            target = first(view, name="Forward")
            return None if target is None else click(view, target)
        return click(view, icons[1 if task == "delete" else 2]) if len(icons) > 2 else None
    elements = view.elements
    sender = next((i for i, e in enumerate(elements) if e["tag"] == "div" and e["name"] == by and e["visible"]), None)
    if sender is None:
        return None
    if task in ("delete", "important"):  # the thread's own trash and star icons
        icons = _icons(view, sender)
        return click(view, icons[0 if task == "delete" else 1]) if len(icons) > 1 else None
    return click(view, elements[sender])
