"""Classifiers of the methods (spec 5-7): HE (ViT on ROI slices), HT (CTNet, 3D residual CNN on
the whole NCCT) and location (DTViT, dual-head ViT), with their inputs, training and inference.
"""
