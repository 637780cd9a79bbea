"""Support: a tau2-style customer-support domain on a generated database, playable from either side
(``SupportEnv``: the policy is the agent; ``SupportUserEnv``: the policy is the customer)."""

from turngym.envs.dialogue.support.db import db_hash, make_db
from turngym.envs.dialogue.support.env import SupportEnv
from turngym.envs.dialogue.support.rule_user import SupportRuleUser
from turngym.envs.dialogue.support.tasks import KINDS, make_task
from turngym.envs.dialogue.support.user_env import SupportUserEnv

__all__ = ["KINDS", "SupportEnv", "SupportRuleUser", "SupportUserEnv", "db_hash", "make_db", "make_task"]
