"""Cohort runs: one per-scan task, resumable, atomic, on local processes or a Dask cluster."""

from ..cohort import Scan, read_cohort
from .runner import RunConfig, run_cohort

__all__ = ["Scan", "read_cohort", "RunConfig", "run_cohort"]
