"""``turngym eval``: a policy on a suite of held-out tasks, n samples each; pass@k, pass^k and bootstrap intervals."""
