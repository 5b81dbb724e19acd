"""Fine-tuning BLAST-CT's DeepMedic on a site's own ground truth (`ich train finetune`).

`data`: the dataset read onto the network's 1 mm grid, its checks and BLAST-CT's patch sampler;
`train`: the training loop (checkpoint per epoch, resume, early stopping on the held-out fold);
`register`: the result as a registry model in the per-user manifest.
"""
