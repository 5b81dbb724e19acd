"""Radiomics and latent deep features for outcome prediction (spec 4, from 002).

extract (feature sets into a folder) -> tables (folder and outcome labels) -> pipeline (NMF per
set, six classifiers, seven inputs, patient-grouped CV, external test) -> report (CSV/JSON).
Latents: `latents_seg` (segmentation encoder) and `vaegan` (autoencoder on dilated lesion crops).
"""
