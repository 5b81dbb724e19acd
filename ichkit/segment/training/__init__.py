"""Training segmenters: nnU-Net v2 datasets, presets, trainers and runs (MONAI networks behind
nnU-Net's builder), the TorchScript export the lean engine runs, and BLAST-CT fine-tuning."""
