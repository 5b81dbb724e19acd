"""Grad-CAM guidance: training a classifier so that its heatmap lies on the annotated lesion.

A location label is decided by where the hematoma sits relative to the brain, so an unguided
network may read that from the skull rim or the posterior fossa as well as from the clot: the
DTViT demo model put a median 10 % of its Grad-CAM mass within 10 mm of the hematoma. With
guidance, each training sample that carries a guide map (the 10 mm-dilated hematoma on the
sample grid, written by the dataset builder) adds

    weight * (1 - share of the Grad-CAM of its true class inside the guide)
          + weight * max(0, 1 - peak of the standardised pre-ReLU map inside the guide)

to the loss, the attention-mining idea of GAIN (Li et al., CVPR 2018) with the mask of its
extended form. The first term is the heatmap check itself; the second keeps the map from
escaping the first by going negative everywhere (a ReLU map of zeros has no share to move).
The Grad-CAM is the one `ich predict` draws (`ichkit.classify.explain.grad_cam_raw`), differentiated a
second time (double backward).
"""

from __future__ import annotations

import numpy as np

from ..errors import OptionError
from .explain import grad_cam_raw, upsample_cam

PEAK_MARGIN = 1.0  # standard deviations the map must reach somewhere inside the guide


def allow_double_backward(model) -> None:
    """Fused scaled-dot-product attention has no double backward: use timm's plain attention."""
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = False


def cam_targets(model, task, y):
    """(logit index, guided?) per sample from the targets `y` (columns in `task.targets` order):
    the true class of a multi-class head, the finding (class 1) of a binary one, as in predict."""
    # deferred: torch loads only when a model trains (the task table imports this module)
    import torch

    head = task.cam_head
    col = y[:, list(task.targets).index(head)]
    start = model.heads[head].start
    if len(task.classes[head]) == 2:
        return torch.full_like(col, start + 1), col == 1
    return start + col.clamp_min(0), col >= 0


def guidance_loss(model, logits, act, targets, guide, rows):
    """Mean guidance loss over the samples where `rows` is true (0 when there are none).

    `act` is the CAM layer's output of the forward pass that gave `logits`; `guide` is
    (B, 1, *input size) in [0, 1].
    """
    # deferred: torch loads only when a model trains (the task table imports this module)
    import torch

    if not bool(rows.any()):
        return logits.new_zeros(())
    raw = grad_cam_raw(model, logits, act, targets, create_graph=True)[rows]
    if raw[0].numel() < 2:
        raise OptionError(None, f"Grad-CAM guidance needs a CAM grid of 2 or more cells; at this input size the model's is {tuple(raw.shape[2:])}")
    raw = raw / (raw.flatten(1).std(1).view(-1, *(1,) * (raw.ndim - 1)) + 1e-6)
    size, anchor = tuple(guide.shape[2:]), getattr(model, "cam_anchor", "centre")
    cam = upsample_cam(torch.relu(raw), size, anchor)
    guide = guide[rows]
    dims = tuple(range(1, cam.ndim))
    inside = (cam * guide).sum(dims) / (cam.sum(dims) + 1e-8)
    peak = (upsample_cam(raw, size, anchor) - 1e3 * (guide < 0.5)).flatten(1).max(1).values
    return ((1 - inside) + torch.relu(PEAK_MARGIN - peak)).mean()


def guide_map(near: np.ndarray) -> np.ndarray:
    """A guide as stored with a sample: 1 where the dilated lesion covers at least half a pixel."""
    return (near >= 0.5).astype(np.uint8)
