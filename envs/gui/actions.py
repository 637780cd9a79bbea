"""BrowserGym's high-level browser actions: as tools (so the Hermes and OpenAI parsers work) and as
action strings such as ``click("12")`` in ``<action>...</action>``, read with ``ast`` (never eval).

Each tool only describes its action (a ``GuiAction``); the env's ``ActionRunner`` (the hidden
argument ``browser``) performs it in the page and returns what the model reads.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

import pydantic

from turngym.envs.parsers import ActionParser, ParsedAction, ToolCall
from turngym.tools.core import Hidden, Tool, tool

Button = Literal["left", "middle", "right"]
Modifier = Literal["Alt", "Control", "ControlOrMeta", "Meta", "Shift"]
WaitMs = Annotated[float, pydantic.Field(ge=0, le=10_000)]
Bid = Annotated[str, pydantic.BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v)]
"""An element id: a string, or a JSON integer taken as its text (models often write bids as numbers)."""


@dataclass(frozen=True)
class GuiAction:
    """One browser action: its name and its arguments by parameter name."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_string(self) -> str:
        """The BrowserGym action string, e.g. ``click("12")``."""
        return f"{self.name}({', '.join(f'{k}={json.dumps(v)}' for k, v in self.args.items())})"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "args": dict(self.args)}


class ActionRunner(Protocol):
    """What the tools call to perform an action in the env's page; returns feedback text."""

    def __call__(self, action: GuiAction) -> str: ...


def _run(browser: ActionRunner, name: str, **args: Any) -> str:
    return browser(GuiAction(name, args))


@tool
def click(bid: Bid, browser: Hidden[ActionRunner], button: Button = "left", modifiers: list[Modifier] | None = None) -> str:
    """Click an element.

    Args:
        bid: The element's id, the number in brackets in the page tree.
        button: The mouse button.
        modifiers: Keys held during the click.
    """
    return _run(browser, "click", bid=bid, button=button, modifiers=modifiers or [])


@tool
def dblclick(bid: Bid, browser: Hidden[ActionRunner], button: Button = "left", modifiers: list[Modifier] | None = None) -> str:
    """Double-click an element.

    Args:
        bid: The element's id.
        button: The mouse button.
        modifiers: Keys held during the clicks.
    """
    return _run(browser, "dblclick", bid=bid, button=button, modifiers=modifiers or [])


@tool
def hover(bid: Bid, browser: Hidden[ActionRunner]) -> str:
    """Move the mouse over an element.

    Args:
        bid: The element's id.
    """
    return _run(browser, "hover", bid=bid)


@tool
def fill(bid: Bid, value: str, browser: Hidden[ActionRunner]) -> str:
    """Replace the text of an input, text area or editable element.

    Args:
        bid: The element's id.
        value: The text to write.
    """
    return _run(browser, "fill", bid=bid, value=value)


@tool
def clear(bid: Bid, browser: Hidden[ActionRunner]) -> str:
    """Empty an input or text area.

    Args:
        bid: The element's id.
    """
    return _run(browser, "clear", bid=bid)


@tool
def select_option(bid: Bid, options: str | list[str], browser: Hidden[ActionRunner]) -> str:
    """Select options of a select element by value or label.

    Args:
        bid: The select element's id.
        options: One option or a list of options.
    """
    return _run(browser, "select_option", bid=bid, options=options)


@tool
def press(bid: Bid, key_comb: str, browser: Hidden[ActionRunner]) -> str:
    """Focus an element and press a key or combination, e.g. "Enter" or "Control+a".

    Args:
        bid: The element's id.
        key_comb: The key or combination.
    """
    return _run(browser, "press", bid=bid, key_comb=key_comb)


@tool
def focus(bid: Bid, browser: Hidden[ActionRunner]) -> str:
    """Give an element the keyboard focus.

    Args:
        bid: The element's id.
    """
    return _run(browser, "focus", bid=bid)


@tool
def drag_and_drop(from_bid: Bid, to_bid: Bid, browser: Hidden[ActionRunner]) -> str:
    """Drag one element onto another.

    Args:
        from_bid: The dragged element's id.
        to_bid: The target element's id.
    """
    return _run(browser, "drag_and_drop", from_bid=from_bid, to_bid=to_bid)


@tool
def scroll(delta_x: float, delta_y: float, browser: Hidden[ActionRunner]) -> str:
    """Scroll the page (or the element under the mouse) by pixels.

    Args:
        delta_x: Pixels to the right.
        delta_y: Pixels down.
    """
    return _run(browser, "scroll", delta_x=delta_x, delta_y=delta_y)


@tool
def mouse_move(x: float, y: float, browser: Hidden[ActionRunner]) -> str:
    """Move the mouse to a point of the page.

    Args:
        x: Pixels from the left.
        y: Pixels from the top.
    """
    return _run(browser, "mouse_move", x=x, y=y)


@tool
def mouse_click(x: float, y: float, browser: Hidden[ActionRunner], button: Button = "left") -> str:
    """Click at a point of the page.

    Args:
        x: Pixels from the left.
        y: Pixels from the top.
        button: The mouse button.
    """
    return _run(browser, "mouse_click", x=x, y=y, button=button)


@tool
def mouse_dblclick(x: float, y: float, browser: Hidden[ActionRunner], button: Button = "left") -> str:
    """Double-click at a point of the page.

    Args:
        x: Pixels from the left.
        y: Pixels from the top.
        button: The mouse button.
    """
    return _run(browser, "mouse_dblclick", x=x, y=y, button=button)


@tool
def mouse_down(x: float, y: float, browser: Hidden[ActionRunner], button: Button = "left") -> str:
    """Move the mouse to a point and press a button, held until mouse_up.

    Args:
        x: Pixels from the left.
        y: Pixels from the top.
        button: The mouse button.
    """
    return _run(browser, "mouse_down", x=x, y=y, button=button)


@tool
def mouse_up(x: float, y: float, browser: Hidden[ActionRunner], button: Button = "left") -> str:
    """Move the mouse to a point and release a button.

    Args:
        x: Pixels from the left.
        y: Pixels from the top.
        button: The mouse button.
    """
    return _run(browser, "mouse_up", x=x, y=y, button=button)


@tool
def mouse_drag_and_drop(from_x: float, from_y: float, to_x: float, to_y: float, browser: Hidden[ActionRunner]) -> str:
    """Press the left button at one point, move to another and release it there.

    Args:
        from_x: Pixels from the left where the drag starts.
        from_y: Pixels from the top where the drag starts.
        to_x: Pixels from the left where it ends.
        to_y: Pixels from the top where it ends.
    """
    return _run(browser, "mouse_drag_and_drop", from_x=from_x, from_y=from_y, to_x=to_x, to_y=to_y)


@tool
def keyboard_type(text: str, browser: Hidden[ActionRunner]) -> str:
    """Type text with the keyboard into the focused element.

    Args:
        text: The text.
    """
    return _run(browser, "keyboard_type", text=text)


@tool
def keyboard_press(key: str, browser: Hidden[ActionRunner]) -> str:
    """Press a key or combination on the focused element, e.g. "Enter" or "Shift+Tab".

    Args:
        key: The key or combination.
    """
    return _run(browser, "keyboard_press", key=key)


@tool
def go_back(browser: Hidden[ActionRunner]) -> str:
    """Go back to the previous page."""
    return _run(browser, "go_back")


@tool
def go_forward(browser: Hidden[ActionRunner]) -> str:
    """Go forward to the next page."""
    return _run(browser, "go_forward")


@tool
def noop(browser: Hidden[ActionRunner], wait_ms: WaitMs = 1000) -> str:
    """Do nothing and wait, e.g. for the page to change.

    Args:
        wait_ms: Milliseconds to wait (at most 10000).
    """
    return _run(browser, "noop", wait_ms=wait_ms)


@tool
def send_msg_to_user(text: str, browser: Hidden[ActionRunner]) -> str:
    """Send a message to the user (an answer the task asks for).

    Args:
        text: The message.
    """
    return _run(browser, "send_msg_to_user", text=text)


BROWSER_TOOLS: tuple[Tool, ...] = (
    click,
    dblclick,
    hover,
    fill,
    clear,
    select_option,
    press,
    focus,
    drag_and_drop,
    scroll,
    mouse_move,
    mouse_click,
    mouse_dblclick,
    mouse_down,
    mouse_up,
    mouse_drag_and_drop,
    keyboard_type,
    keyboard_press,
    go_back,
    go_forward,
    noop,
    send_msg_to_user,
)
TOOLS_BY_NAME = {t.name: t for t in BROWSER_TOOLS}
ELEMENT_ACTIONS = frozenset({"click", "dblclick", "hover", "fill", "clear", "select_option", "press", "focus"})


def parameter_names(t: Tool) -> list[str]:
    """A tool's visible parameters in signature order (the order of positional arguments)."""
    return list(t._field_names.values())


def parse_action_string(text: str) -> tuple[GuiAction | None, str | None]:
    """``click("12", button="right")`` -> ``GuiAction``; the error says what was expected instead.

    Only a call of a known action with literal arguments is read (``ast.literal_eval`` per
    argument); numbers given as a bid are taken as the bid's text.
    """
    body = _strip_fences(text.strip())
    expected = 'expected one call such as click("12") or fill("5", "text")'
    try:
        node = ast.parse(body, mode="eval").body
    except SyntaxError as exc:
        return None, f"cannot read the action {body[:80]!r} ({exc.msg}); {expected}"
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return None, f"{expected}, got {body[:80]!r}"
    name = node.func.id
    if name not in TOOLS_BY_NAME:
        return None, f"unknown action {name!r}; actions: {', '.join(TOOLS_BY_NAME)}"
    params = parameter_names(TOOLS_BY_NAME[name])
    if len(node.args) > len(params):
        return None, f"{name} takes at most {len(params)} arguments ({', '.join(params)}), got {len(node.args)}"
    args: dict[str, Any] = {}
    try:
        for param, value in zip(params, node.args, strict=False):
            args[param] = ast.literal_eval(value)
        for keyword in node.keywords:
            if keyword.arg is None or keyword.arg not in params:
                return None, f"{name} has no argument {keyword.arg!r}; it takes {', '.join(params)}"
            if keyword.arg in args:
                return None, f"{name} got argument {keyword.arg!r} twice"
            args[keyword.arg] = ast.literal_eval(keyword.value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None, f"{name}'s arguments must be literal strings, numbers or lists; got {body[:80]!r}"
    for key in ("bid", "from_bid", "to_bid"):
        if isinstance(args.get(key), int) and not isinstance(args[key], bool):
            args[key] = str(args[key])
    return GuiAction(name, args), None


def validated_action(call: ToolCall) -> GuiAction | None:
    """The ``GuiAction`` a tool call asks for, its arguments checked and completed with the
    defaults exactly as the tools pass them on; None when the call is not a valid browser action."""
    tool = TOOLS_BY_NAME.get(call.name)
    if tool is None:
        return None
    try:
        validated = tool._validate(dict(call.arguments))
    except Exception:
        return None
    args = {param: getattr(validated, name) for name, param in tool._field_names.items()}
    return GuiAction(call.name, _plain(args))


def _plain(args: dict[str, Any]) -> dict[str, Any]:
    """Arguments as the tool functions pass them on (defaults filled, None modifiers as [])."""
    out = json.loads(json.dumps(args))
    if "modifiers" in out and out["modifiers"] is None:
        out["modifiers"] = []
    return out


def _strip_fences(text: str) -> str:
    match = re.fullmatch(r"```[a-z]*\s*(.*?)\s*```", text, re.DOTALL)
    return match.group(1) if match else text


@dataclass
class BrowserGymParser(ActionParser):
    """BrowserGym's action format: one action string in ``<action>...</action>`` per turn, e.g.
    ``<action>click("12")</action>``; text before it (reasoning) is kept and ignored. OpenAI
    ``tool_calls`` on a dict action are read as well."""

    name: str = field(default="browsergym", init=False)

    def parse_text(self, text: str, *, turn: int) -> ParsedAction:
        found = re.findall(r"<action>(.*?)</action>", text, re.DOTALL)
        if not found:
            return ParsedAction(text=text, error="found no <action>...</action>")
        if len(found) > 1 or text.count("<action>") != 1:
            return ParsedAction(text=text, error="write exactly one closed <action>...</action> per turn")
        action, error = parse_action_string(found[0])
        if error is not None:
            return ParsedAction(text=text, error=error)
        return ParsedAction(text=text, tool_calls=(ToolCall(action.name, action.args, f"call_{turn}_0"),))

    def render(self, calls: list[tuple[str, dict[str, Any]]] = (), answer: str | None = None, text: str = "") -> Any:
        blocks = [f"<action>{GuiAction(name, dict(arguments)).to_string()}</action>" for name, arguments in calls]
        return "\n".join([*([text] if text else []), *blocks])

    def format_help(self) -> str:
        return 'Act with one action per turn, e.g. <action>click("12")</action> or <action>fill("5", "some text")</action>.'

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return ("</action>",)
