"""Segmentation: the inference engines (BLAST-CT's DeepMedic, nnU-Net's predictor and the lean
TorchScript path, the engine table that builds them), postprocessing and `run.segment_ct`, the step
every caller uses; `training/` builds datasets and trains or fine-tunes, `benchmark/` compares.

Imports nothing eagerly: `ich --help` must stay fast.
"""
