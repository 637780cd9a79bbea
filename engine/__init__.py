"""The rollout engine: a vector env and a policy in, token trajectories of whole episodes (or k-way branches) out."""

from turngym.engine.episode import EpisodeTokens, rollout_metrics
from turngym.engine.play import BranchRollout, Engine, StepGroup, play_episodes

__all__ = ["BranchRollout", "Engine", "EpisodeTokens", "StepGroup", "play_episodes", "rollout_metrics"]
