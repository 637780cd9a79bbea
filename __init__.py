"""turngym: Gymnasium environments for multi-turn LLM agents, process rewards, and trainers.

``import turngym`` registers every env under ``turngym/``; ``gym.make("turngym/ToolCalc-v0")``.
"""

from turngym.envs.multiagent import make_aec, make_parallel, multiagent_ids
from turngym.envs.registration import env_card, make, register, register_builtin_envs, registered_ids
from turngym.envs.vector import make_vec

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "env_card",
    "make",
    "make_aec",
    "make_parallel",
    "make_vec",
    "multiagent_ids",
    "register",
    "registered_ids",
]

register_builtin_envs()
