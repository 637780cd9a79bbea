"""Multi-agent envs: chat games as PettingZoo AEC and parallel envs (``turngym.make_aec``, ``turngym.make_parallel``).

>>> import turngym
>>> env = turngym.make_aec("turngym/Negotiation-v0")
>>> env.reset(seed=0)
>>> env.agent_selection, env.last()[0]["messages"][0]["role"]
('alice', 'system')
>>> sorted(turngym.multiagent_ids())[:2]
['turngym/ClarifyDuo-v0', 'turngym/Negotiation-v0']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turngym.envs.errors import UnknownEnvError

MULTIAGENT_GAMES: dict[str, tuple[str, dict[str, Any]]] = {
    "turngym/Negotiation-v0": ("turngym.envs.multiagent.negotiation:NegotiationGame", {}),
    "turngym/ClarifyDuo-v0": ("turngym.envs.multiagent.game:UserSeatGame", {"env_id": "turngym/Clarify-v0"}),
    "turngym/SupportDuo-v0": ("turngym.envs.multiagent.game:UserSeatGame", {"env_id": "turngym/Support-v0"}),
}
"""Each multi-agent ID: its game class (import path) and fixed arguments."""


def multiagent_ids() -> list[str]:
    """The IDs ``make_aec`` and ``make_parallel`` take."""
    return list(MULTIAGENT_GAMES)


def _game_factory(env_id: str, kwargs: dict[str, Any]) -> Callable[[], Any]:
    import importlib

    if env_id not in MULTIAGENT_GAMES:
        import difflib

        near = difflib.get_close_matches(env_id, MULTIAGENT_GAMES, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise UnknownEnvError(f"expected a multi-agent ID, one of {multiagent_ids()}, got {env_id!r}{hint}")
    path, fixed = MULTIAGENT_GAMES[env_id]
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    return lambda: cls(**fixed, **kwargs)


def make_aec(env_id: str, *, render_mode: str | None = None, **kwargs: Any) -> Any:
    """The multi-agent ``env_id`` as a PettingZoo ``AECEnv`` (agents take turns)."""
    from turngym.envs.multiagent.pz import TurngymAEC

    return TurngymAEC(_game_factory(env_id, kwargs), env_id, render_mode=render_mode)


def make_parallel(env_id: str, **kwargs: Any) -> Any:
    """The multi-agent ``env_id`` as a PettingZoo ``ParallelEnv`` (one round per step)."""
    from turngym.envs.multiagent.pz import TurngymParallel

    return TurngymParallel(_game_factory(env_id, kwargs), env_id)
