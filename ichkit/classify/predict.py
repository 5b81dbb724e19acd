"""Inference of the classifiers: probability, class, a 90 % uncertainty interval (MC dropout, or
the spread of an ensemble of fold models), and a Grad-CAM heatmap on the CT grid.

Models come from a training folder (`model.pt`; several `model*.pt` form an ensemble) or from the
registry by id (task "classification"): files shipped under `ichkit/resources/models/<id>/` are used
in place, others are installed in the cache; either way each file is SHA-256-checked first.
With no model named, the phantom-trained demo model of the task runs, with a warning.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ModelError, OptionError, warn
from ..image import Volume
from ..models import cache, load_registry
from ..models.download import ensure_installed
from ..preprocess.intensity import WINDOW_LEVEL_HU, WINDOW_WIDTH_HU
from ..resources import resources_dir
from .explain import backproject_roi, grad_cam
from .inputs import mask_to_ct, slice_inputs, slices_to_ct, volume_input, volume_to_ct
from .roi import roi_slices
from .tasks import AGGREGATE, Task, get_task, settings_from

DEMO_MODELS = {"he": "ich-demo-he-vit", "ht": "ich-demo-ht-ctnet", "location": "ich-demo-location-dtvit"}
DEMO_WARNING = "demo model, not for clinical use"
MC_PASSES = 20  # MC-dropout forward passes per scan
INTERVAL = 0.90  # central interval of the passes' (or ensemble members') probabilities
MODEL_GLOB = "model*.pt"
HEATMAP_LEVELS = 255  # heatmaps are rounded to 8-bit steps: no visible loss, and the NIfTI compresses ~8x faster


@dataclass
class Classifier:
    task: Task
    models: list  # torch modules: one (MC dropout) or several (ensemble)
    config: dict
    source: str
    demo: bool

    @property
    def settings(self):
        return settings_from(self.task, self.config.get("settings"))


def _load_checkpoint(path: Path, device: str):
    # deferred: torch loads only when a classifier runs (the app imports this module for its model list); classify.models imports it
    import torch
    from .models import create_model

    try:
        ck = torch.load(path, map_location=device, weights_only=True)
        cfg = ck["config"]
        model = create_model(cfg["arch"], **cfg["arch_kwargs"])
        model.load_state_dict(ck["state_dict"])
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(path, f"is not a classifier checkpoint of this toolkit ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    return model.to(device).eval(), cfg


@functools.lru_cache(maxsize=1)
def _registry():
    """One registry read per process: `ich predict --task all` loads three models from it."""
    return load_registry()


def _registry_files(model_id: str) -> tuple[list[Path], bool]:
    entry = _registry().get(model_id)
    if entry.task != "classification":
        raise ModelError(model_id, f"is a {entry.task} model, not a classification model")
    shipped = resources_dir() / "models" / entry.id
    if all((shipped / f.name).is_file() for f in entry.files):
        for f in entry.files:
            cache.check_file(shipped / f.name, f, entry.id)
        paths = {f.name: shipped / f.name for f in entry.files}
    else:
        ensure_installed(entry)
        paths = cache.verified_paths(entry)
    return [paths[f.name] for f in entry.member_files()], entry.demo


def load_classifier(task_name: str, ref: str | Path | None = None, device: str = "cpu") -> Classifier:
    """A classifier for `task_name` from a folder / file, a registry id, or (None) the demo model."""
    task = get_task(task_name)
    if ref is None:
        ref = DEMO_MODELS[task.name]
    path = Path(ref)
    if path.is_dir():
        files, demo = sorted(path.glob(MODEL_GLOB)), False
        if not files:
            raise ModelError(path, f"holds no {MODEL_GLOB} (train one with `ich train classify`)")
    elif path.is_file():
        files, demo = [path], False
    else:
        files, demo = _registry_files(str(ref))
    loaded = [_load_checkpoint(f, device) for f in files]
    cfg = loaded[0][1]
    if cfg["task"] != task.name:
        raise ModelError(files[0], f"is a {cfg['task']} classifier, not a {task.name} classifier")
    demo = demo or bool(cfg.get("demo"))
    if demo:
        warn(ref, f"{DEMO_WARNING}: trained on phantoms only")
    return Classifier(task, [m for m, _ in loaded], cfg, str(ref), demo)


# ---- per task: the network input of a scan and the way back to the CT grid --------------------

@dataclass
class Prepared:
    x: np.ndarray  # samples with a channel axis
    to_ct: Callable[[np.ndarray], np.ndarray]  # per-sample heatmaps -> CT-grid volume
    previews: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (slice, image) of the ROI slices
    meta: dict = field(default_factory=dict)
    support: Callable[[], np.ndarray] | None = None  # CT-grid mask of what the network was shown (None: the ROI boxes)


def _prepare_he(ct, mask, settings) -> Prepared:
    if mask is None:
        raise OptionError(ct.meta.get("source"), "the HE classifier reads ROI slices around the hematoma: pass --mask")
    stack = roi_slices(ct, mask, replace(settings, on_short="warn"))
    return Prepared(stack.images[:, None], lambda cams: backproject_roi(cams, stack.slices, stack.box, ct.shape),
                    list(zip(stack.slices, stack.images)), {"roi_slices": list(stack.slices), "roi_box_yx": list(stack.box)})


def _prepare_ht(ct, mask, settings) -> Prepared:
    inp = volume_input(ct, settings)
    return Prepared(inp.array[None, None], lambda cams: volume_to_ct(cams[0], inp, ct),
                    support=lambda: mask_to_ct(inp.support, ct))


def _prepare_location(ct, mask, settings) -> Prepared:
    images, head = slice_inputs(ct, settings)
    return Prepared(images[:, None], lambda cams: slices_to_ct(cams, ct), support=lambda: mask_to_ct(head, ct))


PREPARE: dict[str, Callable[..., Prepared]] = {"he": _prepare_he, "ht": _prepare_ht, "location": _prepare_location}


def _cam_target(task: Task, model, probs: dict[str, np.ndarray]) -> int:
    """The logit Grad-CAM explains: the finding (class 1) of a binary head, else the predicted class."""
    head = task.cam_head
    k = 1 if len(task.classes[head]) == 2 else int(np.argmax(probs[head]))
    return model.heads[head].start + k


def _sample_weights(task: Task, probs: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Location heatmaps count each slice by its P(ICH); other tasks weigh samples equally."""
    return probs["ich"][:, 1] if task.name == "location" else np.ones(n, np.float32)


def _probs(model, features) -> dict[str, np.ndarray]:
    # deferred: torch loads only when a classifier runs (the app imports this module for its model list)
    import torch

    logits = model.classify(features)
    return {h: torch.softmax(logits[:, sl], 1).cpu().numpy() for h, sl in model.heads.items()}


def _sample_and_pass_probs(clf: Classifier, x, passes: int):
    """Per-sample probabilities (dropout off, ensemble mean) and the scan-level probabilities of
    each MC-dropout pass (dropout on in the heads; the trunk runs once) or of each ensemble member."""
    # deferred: torch loads only when a classifier runs (the app imports this module for its model list)
    import torch

    agg = AGGREGATE[clf.task.name]
    with torch.no_grad():
        features = [m.features(x) for m in clf.models]
        members = [_probs(m, f) for m, f in zip(clf.models, features)]
        samples = {h: np.mean([p[h] for p in members], axis=0) for h in members[0]}
        if len(clf.models) > 1:
            return samples, [agg(p) for p in members]
        model = clf.models[0]
        model.train()
        try:
            return samples, [agg(_probs(model, features[0])) for _ in range(passes)]
        finally:
            model.eval()


def _interval(values, level: float) -> list[float]:
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return [float(lo), float(hi)]


@dataclass
class Prediction:
    result: dict
    heatmap: np.ndarray | None
    previews: list[tuple[int, np.ndarray, np.ndarray]]  # (slice, image, heatmap) for overlays


def predict(clf: Classifier, ct: Volume, mask: Volume | None = None, *, passes: int = MC_PASSES,
            level: float = INTERVAL, cam: bool = True, device: str = "cpu") -> Prediction:
    # deferred: torch loads only when a classifier runs (the app imports this module for its model list)
    import torch

    if passes < 2 and len(clf.models) == 1:
        raise OptionError(None, f"MC dropout needs at least 2 passes, got {passes}")
    task = clf.task
    prep = PREPARE[task.name](ct, mask, clf.settings)
    x = torch.from_numpy(prep.x).to(device)
    model = clf.models[0]
    samples, runs = _sample_and_pass_probs(clf, x, passes)
    scan = AGGREGATE[task.name](samples)
    primary = "location" if task.name == "location" else "label"
    names = task.classes
    result = {"task": task.name, "description": task.description, "model": clf.source, "demo": clf.demo,
              "uncertainty": "ensemble" if len(clf.models) > 1 else "mc_dropout",
              "passes": len(runs), "interval_level": level, **prep.meta}
    if task.name == "location":
        result["ich_probability"] = float(scan["ich"][1])
        result["ich_interval"] = _interval([r["ich"][1] for r in runs], level)
    k = int(np.argmax(scan[primary]))
    result.update({"class": names[primary][k], "probabilities": dict(zip(names[primary], map(float, scan[primary])))})
    positive = 1 if task.name != "location" else k
    result["probability"] = float(scan[primary][positive])
    result["interval"] = _interval([r[primary][positive] for r in runs], level)
    if clf.demo:
        result["warning"] = DEMO_WARNING
    heat, previews = None, []
    if cam:
        target = _cam_target(task, model, scan)
        cams = grad_cam(model, x.clone().requires_grad_(False), target)
        cams = cams * _sample_weights(task, samples, len(cams)).reshape((-1,) + (1,) * (cams.ndim - 1))
        heat = prep.to_ct(cams)
        if prep.support is not None:  # outside it the input was a constant fill: heat there is upsampling spill
            heat *= prep.support()
        heat = (np.round(heat * HEATMAP_LEVELS) / HEATMAP_LEVELS).astype(np.float32)
        previews = [(z, img, cams[i]) for i, (z, img) in enumerate(prep.previews)]
        if not previews:  # whole-scan tasks: the slice where the heatmap peaks, on the 40/80 window
            z = int(np.argmax(heat.reshape(heat.shape[0], -1).max(axis=1)))
            lo = WINDOW_LEVEL_HU - WINDOW_WIDTH_HU / 2
            previews = [(z, np.clip((ct.array[z].astype(np.float32) - lo) / WINDOW_WIDTH_HU, 0, 1), heat[z] / max(float(heat.max()), 1e-8))]
        result["cam_target"] = target
        result["cam_guided"] = bool(clf.config.get("preset", {}).get("cam_guidance"))  # the map was trained toward the lesion
    return Prediction(result, heat, previews)
