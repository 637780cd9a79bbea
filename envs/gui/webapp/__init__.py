"""A generated web shop served over local HTTP: search, filters, product options, a cart, checkout, an inbox and support.

``tasks`` generates shops and goals, ``server`` serves them (one session per episode), ``goals``
scores a session's state, ``oracle`` plays a goal through the page's elements.
"""

from turngym.envs.gui.webapp.goals import GoalResult, check_goal, goal_done
from turngym.envs.gui.webapp.oracle import oracle_action
from turngym.envs.gui.webapp.server import ShopServer, ShopServerError, shared_shop_server
from turngym.envs.gui.webapp.state import ShopState, World
from turngym.envs.gui.webapp.tasks import KINDS, Goal, make_goal, make_world

__all__ = [
    "KINDS",
    "Goal",
    "GoalResult",
    "ShopServer",
    "ShopServerError",
    "ShopState",
    "World",
    "check_goal",
    "goal_done",
    "make_goal",
    "make_world",
    "oracle_action",
    "shared_shop_server",
]
