"""Scripted MiniWoB solutions: the next action from the task's own fields and the page's elements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turngym.envs.gui.actions import GuiAction
from turngym.envs.gui.driver import PageView

Oracle = Callable[[str, dict[str, Any], PageView], GuiAction | None]
ORACLES: dict[str, Oracle] = {}
