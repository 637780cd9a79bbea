"""ToolUse: tasks that chain several different tools (SQL over a table, unit conversion, a calculator,
date arithmetic, Python), with ToolRL-style process hooks."""

from turngym.envs.tooluse.dates import date_add, days_between, weekday
from turngym.envs.tooluse.env import ToolUseEnv
from turngym.envs.tooluse.hooks import ArgumentMatch, ToolFormat, ToolNameMatch
from turngym.envs.tooluse.table_query import query_table
from turngym.envs.tooluse.tasks import make_task
from turngym.envs.tooluse.units import convert_units

__all__ = [
    "ArgumentMatch",
    "ToolFormat",
    "ToolNameMatch",
    "ToolUseEnv",
    "convert_units",
    "date_add",
    "days_between",
    "make_task",
    "query_table",
    "weekday",
]
