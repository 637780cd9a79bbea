"""Sandboxed Python execution: a common interface with ``local`` (subprocess) and ``docker`` backends."""

from turngym.tools.sandbox.base import ErrorKind, Limits, RunResult, Sandbox, SandboxError, make_sandbox
from turngym.tools.sandbox.local import LocalSandbox

__all__ = ["ErrorKind", "Limits", "LocalSandbox", "RunResult", "Sandbox", "SandboxError", "make_sandbox"]
