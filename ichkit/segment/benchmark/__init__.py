"""Comparing segmenters: architectures trained alike (`ich bench-seg --archs`) and registry models
on a dataset's held-out fold (`ich bench-seg --models`)."""
