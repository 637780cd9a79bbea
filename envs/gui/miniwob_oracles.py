"""Scripted MiniWoB solutions: ``ORACLES[task](instruction, fields, view, history)`` is the next action.

The oracles live in family files (``miniwob_oracles_<family>.py``) built on the helpers of
``miniwob_oracles_kit``; importing them fills ``ORACLES``.
"""

from __future__ import annotations

from turngym.envs.gui import (  # noqa: F401  (they register their oracles)
    miniwob_oracles_click,
    miniwob_oracles_drag,
    miniwob_oracles_email,
    miniwob_oracles_forms,
    miniwob_oracles_widgets,
)
from turngym.envs.gui.miniwob_oracles_kit import ORACLES, Oracle

__all__ = ["ORACLES", "Oracle"]
