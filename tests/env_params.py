"""Registered IDs as pytest params: the GUI envs' IDs carry the ``browser`` marker."""

from __future__ import annotations

import pytest

from turngym.envs.registration import spec


def is_gui(env_id: str) -> bool:
    entry = spec(env_id).entry_point
    return isinstance(entry, str) and entry.startswith("turngym.envs.gui")


def env_params(ids: list[str]) -> list:
    """``ids`` for ``parametrize``; GUI IDs marked ``browser`` (they need Chromium)."""
    return [pytest.param(i, marks=pytest.mark.browser) if is_gui(i) else i for i in ids]
