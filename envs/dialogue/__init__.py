"""Dialogue envs: an agent talks with a simulated user (rule-based or model-based, reproducible to the bit)."""
