"""turngym's exceptions: API misuse by the caller, never a model's malformed action."""

from __future__ import annotations

import gymnasium


class TurngymError(gymnasium.error.Error):
    """Base class of every turngym error."""


class UnknownEnvError(TurngymError, KeyError):
    """An env ID that is not registered; the message lists close matches."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class EnvArgumentError(TurngymError, ValueError):
    """An env made with a keyword argument it does not take, or a value it refuses."""


class ResetNeeded(TurngymError):
    """``step`` called before ``reset`` or after the episode ended."""


class HookError(TurngymError):
    """A process-reward hook returned something other than a float, named floats or None."""


class RecordError(TurngymError):
    """An episode record that cannot be read or replayed."""
