"""Baseline trainers on shared, unit-tested pieces.

``config`` (dataclass configs, YAML, ``--set``; ``ALGORITHMS``), ``advantages`` (GRPO groups,
discounted returns, ReBN), ``losses`` (the clipped policy-gradient loss), ``update`` (one
policy-gradient update), ``run`` (seeding, the rollout engines, resume, evaluation, logging,
checkpoints), ``checkpoint``, ``metrics``; the trainers ``grpo``, ``reinforce_rebn``, ``sft`` and
``step_grpo``; ``train.train(config)`` dispatches on the config's class (``turngym train``).
"""
