"""Policies: the token protocol (``TokenPolicy``), scripted, oracle and random policies; model policies in
``hf_policy``, ``openai_policy`` and ``openai_token_policy``. The engine that plays them is ``turngym.engine``."""

from turngym.agents.base import EnvAwarePolicy, MessagePolicy, Policy, PolicyOutput, TokenPolicy, as_token_policy
from turngym.agents.random_policy import RandomPolicy
from turngym.agents.scripted import OraclePolicy, ScriptedPolicy

__all__ = [
    "EnvAwarePolicy",
    "MessagePolicy",
    "OraclePolicy",
    "Policy",
    "PolicyOutput",
    "RandomPolicy",
    "ScriptedPolicy",
    "TokenPolicy",
    "as_token_policy",
]
