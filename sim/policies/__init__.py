"""Policies that drive the ego: built-in baselines, degraded variants, and the registry that
resolves a policy name."""
