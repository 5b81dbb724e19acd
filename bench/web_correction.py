"""How many actions, and how much tool time, turn the AI mask of a planted phantom into its truth
(IPH Dice >= 0.95), with and without the workstation's correction tools (`ichkit/web/tools.py`).

The "AI mask" is the truth with the errors seen on real outputs: the boundary one pixel short on
every slice, the largest hematoma slice missed, three small islands. The reader is scripted:
- brush only: each action is one 2D stroke (5 mm, the workstation's default, or 2 mm for
  edges) on one slice where it fixes most voxels net: painting missed clot or erasing wrong voxels;
- with tools: "remove islands", one "grow from a click" inside the clot on the missed slice,
  then the same strokes, limited to the 50-100 HU range, until the target is reached.
The scripted reader's search for the best stroke is not counted: an action's seconds are the
tool's own compute time (grow, islands; a stroke's paint is negligible), what the server adds to
a click before re-measuring. A reader's hand and eye time is not modelled: the action counts are
the comparison.

    PYTHONPATH=. .venv/bin/python bench/web_correction.py [--seeds 0 1 2] [--target 0.95]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from ichkit.labels import IPH
from ichkit.phantom import make_phantom
from ichkit.web.tools import BLOOD_HU, grow, remove_islands

BRUSH_MM = (5.0, 2.0)  # the default brush, and the small one a reader takes for the edges
MAX_ACTIONS = 2000


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def ai_mask(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mask = ndimage.binary_erosion(truth, np.ones((1, 3, 3), bool))
    mask[int(np.argmax(truth.sum(axis=(1, 2))))] = False
    for _ in range(3):
        z, y, x = rng.integers(0, truth.shape[0]), rng.integers(50, truth.shape[1] - 50), rng.integers(50, truth.shape[2] - 50)
        mask[z, y:y + 2, x:x + 2] = True
    return mask


def disc(spacing, diameter_mm: float) -> np.ndarray:
    r = diameter_mm / 2
    ny, nx = int(np.ceil(r / spacing[1])), int(np.ceil(r / spacing[0]))
    y, x = np.mgrid[-ny:ny + 1, -nx:nx + 1]
    return (y * spacing[1]) ** 2 + (x * spacing[0]) ** 2 <= r * r


def _best(effect: np.ndarray, kernel: np.ndarray) -> tuple[int, int, int, int]:
    """(net gain, k, y, x) of the best stroke centre: `effect` is +1 where the stroke fixes a voxel,
    -1 where it spoils one; searched near the voxels it fixes."""
    best = (0, 0, 0, 0)
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    for k in np.nonzero((effect > 0).any(axis=(1, 2)))[0]:
        ys, xs = np.nonzero(effect[k] > 0)
        y0, x0 = max(ys.min() - ry, 0), max(xs.min() - rx, 0)
        gain = ndimage.convolve(effect[k, y0:ys.max() + ry + 1, x0:xs.max() + rx + 1], kernel.astype(np.int32), mode="constant")
        y, x = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if gain[y, x] > best[0]:
            best = (int(gain[y, x]), int(k), int(y + y0), int(x + x0))
    return best


def stroke(mask, truth, allowed, kernels) -> bool:
    """One 2D stroke (of the brush size that gains most) where it fixes the most voxels net:
    paint missed clot or erase wrong voxels; only `allowed` voxels change. False: no stroke helps."""
    paint = (truth & ~mask & allowed).astype(np.int32) - (~truth & ~mask & allowed)
    erase = (mask & ~truth & allowed).astype(np.int32) - (mask & truth & allowed)
    options = [(_best(effect, kernel), value, kernel) for kernel in kernels for value, effect in ((True, paint), (False, erase))]
    (gain, k, y, x), value, kernel = max(options, key=lambda o: o[0][0])
    if gain <= 0:
        return False
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    y0, x0 = max(y - ry, 0), max(x - rx, 0)
    win = kernel[y0 - (y - ry):, x0 - (x - rx):][: mask.shape[1] - y0, : mask.shape[2] - x0]
    sl = (k, slice(y0, y0 + win.shape[0]), slice(x0, x0 + win.shape[1]))
    mask[sl][win & allowed[sl]] = value
    return True


def correct(truth, start, ct, labels, spacing, target, tools: bool) -> tuple[int, float, float]:
    """(actions, tool seconds, final Dice) to reach `target`."""
    mask, actions, seconds = start.copy(), 0, 0.0
    kernels = [disc(spacing, d) for d in BRUSH_MM]
    allowed = (ct >= BLOOD_HU[0]) & (ct <= BLOOD_HU[1]) if tools else np.ones(ct.shape, bool)
    if tools:
        t = time.perf_counter()
        mask = remove_islands(mask, spacing)
        missed = int(np.argmax((truth & ~mask).sum(axis=(1, 2))))
        seed = tuple(int(v) for v in np.argwhere(truth[missed] & (ct[missed] >= BLOOD_HU[0]) & (ct[missed] <= BLOOD_HU[1]))[0])
        free = np.where(np.isin(labels, (0, IPH)), ct, np.nan)  # as the app: other labels' voxels are never grown into
        mask |= grow(free, (missed, *seed), spacing)
        seconds += time.perf_counter() - t
        actions += 2
    while dice(mask, truth) < target and actions < MAX_ACTIONS:
        if not stroke(mask, truth, allowed, kernels):
            break
        actions += 1
    return actions, seconds, dice(mask, truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--target", type=float, default=0.95)
    args = ap.parse_args()
    print(f"{'seed':>4} {'IPH mL':>7} {'AI Dice':>8} | {'brush: actions':>14} {'Dice':>6} | {'tools: actions':>14} {'tool s':>6} {'Dice':>6}")
    for seed in args.seeds:
        ph = make_phantom(seed, shape=(24, 512, 512), spacing=(0.45, 0.45, 6.0))
        truth, ct, spacing = ph.labels.array == IPH, ph.ct.array.astype(np.float32), ph.ct.spacing
        start = ai_mask(truth, np.random.default_rng(seed))
        labels = ph.labels.array
        plain = correct(truth, start, ct, labels, spacing, args.target, tools=False)
        tooled = correct(truth, start, ct, labels, spacing, args.target, tools=True)
        ml = truth.sum() * np.prod(spacing) / 1000
        print(f"{seed:>4} {ml:>7.1f} {dice(start, truth):>8.3f} | {plain[0]:>14} {plain[2]:>6.3f} | {tooled[0]:>14} {tooled[1]:>6.2f} {tooled[2]:>6.3f}")


if __name__ == "__main__":
    main()
