"""Statistics of the product: AUC with DeLong and bootstrap CIs, threshold metrics, calibration,
comparisons across pipelines, and the plots. Pure numpy/scipy; matplotlib only for plots.

Labels are 0/1 with 1 the positive class (e.g. hematoma expansion); a higher score means more
likely positive.
"""
