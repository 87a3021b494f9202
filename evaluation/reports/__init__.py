"""Markdown + HTML reports of runs, pseudo-simulation runs and correlations."""
