"""Segmentation engines: BLAST-CT (DeepMedic), nnU-Net v2 training and its lean TorchScript path,
dataset building, postprocessing, and `run.segment_ct`, the step every caller uses.

Imports nothing eagerly: `ich --help` must stay fast.
"""
