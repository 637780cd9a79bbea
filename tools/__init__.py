"""Tools an agent can call: the ``Tool`` type, the ``@tool`` decorator and built-in tools."""

from turngym.tools.calculator import calculator, evaluate_arithmetic
from turngym.tools.core import Hidden, Tool, ToolError, ToolResult, parse_google_docstring, tool

__all__ = ["Hidden", "Tool", "ToolError", "ToolResult", "calculator", "evaluate_arithmetic", "parse_google_docstring", "tool"]
