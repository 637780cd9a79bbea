"""Sandboxed Python execution: a common interface with ``local`` (subprocess) and ``docker`` backends."""

from turngym.tools.sandbox.base import ErrorKind, Limits, RunResult, Sandbox, SandboxError, make_sandbox

__all__ = ["ErrorKind", "Limits", "RunResult", "Sandbox", "SandboxError", "make_sandbox"]
