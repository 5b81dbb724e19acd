"""Synthetic minority data (Diffusion-UKAN, spec section 8): generation, quality metrics (FID/KID)
and the reader-study statistics."""
