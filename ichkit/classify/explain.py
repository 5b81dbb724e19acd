"""Grad-CAM heatmaps of the classifiers and their back-projection onto the CT grid.

Grad-CAM (Selvaraju et al.) is computed here in torch: importing pytorch-grad-cam (sklearn,
torchvision) and its cubic 3D zoom cost seconds per `ich predict`. For ViTs (spec 5) the target
is the LayerNorm of the final transformer block; its tokens, minus the class (prefix) tokens,
are reshaped to the patch grid (14 x 14 at 224 px, patch 16) so the CAM is spatial. Heatmaps
are scaled to [0, 1] per image. A heatmap on ROI slices goes back to the CT through the ROI box; whole-slice and whole-volume maps through `ichkit.classify.inputs`.
The coarse map is upsampled where its cells sit (the model's `cam_anchor`): a strided, padded
convolution centres cell j on input pixel S*j, not S*j + (S-1)/2 as plain interpolation assumes;
for a CTNet stage of stride S = 4 that was a 1.5-voxel shift (7.5 mm in z, 6 mm in-plane).
On the CT grid a whole-scan heatmap is zero where the network was shown a constant fill (outside
the head for the DTViT, outside the brain for a skull-stripped CTNet): heat there is only the
coarse grid's spill (`ichkit.classify.predict`).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from PIL import Image
from scipy import ndimage

from ..atomic import atomic_path
from .roi import resize2d

CAM_DILATION_MM = 10.0  # "inside the hematoma" tolerance of the attention check
GUIDED_NOTE = "heatmap trained toward the hematoma"  # shown wherever a guided model's map appears (ichkit.classify.guidance)


def _vit_tokens_to_grid(tensor, grid: tuple[int, int], prefix: int):
    """(B, prefix + gh*gw, C) tokens -> (B, C, gh, gw) activations."""
    b, _, c = tensor.shape
    return tensor[:, prefix:, :].reshape(b, grid[0], grid[1], c).permute(0, 3, 1, 2)


def upsample_cam(cam, size: tuple[int, ...], anchor: str = "centre"):
    """(B, 1, *grid) -> (B, 1, *size), linear; `anchor` as in `ichkit.classify.models._TwoStage`."""
    # deferred: torch loads only when a heatmap is computed (the task table and the app import this module)
    import torch
    import torch.nn.functional as F

    if anchor == "centre":
        return F.interpolate(cam, size=size, mode="bilinear" if cam.ndim == 4 else "trilinear", align_corners=False)
    # output pixel p lies at cell coordinate p / S; grid_sample wants it in [-1, 1], x axis first
    axes = [torch.arange(n, dtype=cam.dtype, device=cam.device) * (g / n) * 2 / max(g - 1, 1) - 1 for g, n in zip(cam.shape[2:], size)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij")[::-1], dim=-1)
    return F.grid_sample(cam, grid.expand(len(cam), *grid.shape), mode="bilinear", padding_mode="border", align_corners=True)


@contextmanager
def cam_activations(model):
    """Collects the output of `model.cam_layer()` on each forward pass inside the block."""
    captured = []
    hook = model.cam_layer().register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        yield captured
    finally:
        hook.remove()


def grad_cam_raw(model, logits, act, targets, *, create_graph: bool = False):
    """Grad-CAM before its ReLU, on the CAM layer's grid: (B, 1, *grid).

    `logits` and `act` come from one forward pass under `cam_activations`; `targets` is one logit
    index per sample. Only the gradient with respect to the CAM layer is taken (no parameter
    gradients); `create_graph` keeps it differentiable for guided training (`ichkit.classify.guidance`).
    """
    # deferred: torch loads only when a heatmap is computed (the task table and the app import this module)
    import torch

    grad, = torch.autograd.grad(logits.gather(1, targets[:, None].to(logits.device)).sum(), act, create_graph=create_graph)
    if hasattr(model, "token_grid"):
        grid, prefix = model.token_grid, model.net.num_prefix_tokens
        act, grad = (_vit_tokens_to_grid(t, grid, prefix) for t in (act, grad))
    spatial = tuple(range(2, act.ndim))
    return (grad.mean(dim=spatial, keepdim=True) * act).sum(dim=1, keepdim=True)


def grad_cam(model, x, target: int | list[int]) -> np.ndarray:
    """Grad-CAM of logit index `target` (one per sample or one for all) for inputs `x`.

    `x`: (B, 1, H, W) or (B, 1, D, H, W) float tensor in [0, 1]; returns (B, H, W) or (B, D, H, W),
    upsampled linearly and scaled to [0, 1] per sample.
    """
    # deferred: torch loads only when a heatmap is computed (the task table and the app import this module)
    import torch

    targets = torch.as_tensor(target if isinstance(target, (list, tuple)) else [target] * len(x))
    model.eval()
    with torch.enable_grad(), cam_activations(model) as captured:
        logits = model(x)
        raw = grad_cam_raw(model, logits, captured[-1], targets)
    with torch.no_grad():
        cam = upsample_cam(torch.relu(raw), tuple(x.shape[2:]), getattr(model, "cam_anchor", "centre"))[:, 0]
        flat = cam.reshape(len(cam), -1)
        lo, hi = flat.min(1).values, flat.max(1).values
        cam = (cam - lo.view(-1, *(1,) * (cam.ndim - 1))) / (hi - lo).clamp_min(1e-7).view(-1, *(1,) * (cam.ndim - 1))
    return cam.cpu().numpy().astype(np.float32)


def backproject_roi(cams: np.ndarray, slices, box, shape) -> np.ndarray:
    """ROI heatmaps (k, S, S) -> a volume of `shape` (zero outside the ROI boxes)."""
    y0, y1, x0, x1 = box
    out = np.zeros(shape, np.float32)
    ny, nx = shape[1:]
    sy, sx = slice(max(y0, 0), min(y1, ny)), slice(max(x0, 0), min(x1, nx))
    for cam, z in zip(cams, slices):
        full = resize2d(cam, (y1 - y0, x1 - x0))
        part = full[sy.start - y0 : sy.stop - y0, sx.start - x0 : sx.stop - x0]
        out[z, sy, sx] = np.maximum(out[z, sy, sx], part)
    return out


def near_lesion(mask: np.ndarray, spacing, dilate_mm: float = CAM_DILATION_MM) -> np.ndarray:
    """`mask` (z, y, x) dilated by `dilate_mm` (spacing x, y, z): where heat counts as on the lesion."""
    return ndimage.distance_transform_edt(~mask.astype(bool), sampling=(spacing[2], spacing[1], spacing[0])) <= dilate_mm


def mass_inside(heat: np.ndarray, mask: np.ndarray, spacing, dilate_mm: float = CAM_DILATION_MM) -> float:
    """Share of the heatmap's total mass inside `mask` dilated by `dilate_mm` (spacing x, y, z)."""
    total = float(heat.sum())
    if total <= 0 or not mask.any():
        return 0.0
    return float(heat[near_lesion(mask, spacing, dilate_mm)].sum()) / total


def overlay_png(grey: np.ndarray, heat: np.ndarray, path, alpha: float = 0.5):
    """A grey [0, 1] image with a 'hot' heatmap blended on top, written atomically as PNG."""

    h = np.clip(heat, 0, 1)[..., None]
    hot = np.clip(np.stack([3 * heat, 3 * heat - 1, 3 * heat - 2], -1), 0, 1)
    rgb = (1 - alpha * h) * np.clip(grey, 0, 1)[..., None] + alpha * h * hot
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.rint(rgb * 255).astype(np.uint8)).save(tmp, format="PNG")
    return path
