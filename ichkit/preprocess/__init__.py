"""Preprocessing (spec 1): resampling, intensity normalisation, windowing, head and brain masks.

Each function maps a `Volume` to a `Volume`; geometry is kept (or, for resampling, recomputed
to cover the same physical extent).
"""

from .headmask import apply_mask, brain_mask, head_mask, intracranial_mask
from .intensity import foreground_stats, percentile_clip_zscore, window
from .resample import resample, resample_like

__all__ = ["resample", "resample_like", "percentile_clip_zscore", "foreground_stats", "window", "head_mask", "brain_mask", "intracranial_mask", "apply_mask"]
