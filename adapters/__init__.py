"""Adapters that put turngym envs into the trainers and servers people already run: TRL, OpenEnv, SkyRL-Gym, verl.

Each adapter lives in its own module and imports its library lazily, so ``import turngym`` never needs them.
"""
