"""Reading and writing images and masks; every reader returns a validated `Volume`."""

from .ct import load_cohort_ct, load_ct, read_header
from .mask import load_mask
from .save import save_volume, save_labelmap

__all__ = ["load_cohort_ct", "load_ct", "read_header", "load_mask", "save_volume", "save_labelmap"]
