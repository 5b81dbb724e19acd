"""Training of the classifiers: presets, patient-level splits, class-ratio variants, atomic
per-epoch checkpoints with resume, fixed seeds.

Presets hold every hyperparameter. `seed` is each paper's recipe: HE ViT (000) 100 epochs, Adam,
cosine 2e-4 -> 1e-4, batch 256; DTViT (004) AdamW 2e-5, weight decay 0.01, 10 epochs, rotation
+-15 degrees and sharpness 2; CTNet (001/003 give no optimiser) our choice: Adam 1e-4 -> 1e-6
cosine, weight decay 1e-4, 50 epochs, batch 8 (whole 28-slice volumes fill memory quickly).
`smoke` is a tiny network for CI on a CPU. `cam_guidance` > 0 adds the Grad-CAM guidance loss
(`ichkit.classify.guidance`) on samples whose manifest row names a guide map.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_json
from ..checkpoint import load_checkpoint
from ..errors import OptionError, OutputExistsError, TableError, warn
from ..evaluate.auc import auc
from ..progress import Progress, silent
from .explain import cam_activations
from .guidance import allow_double_backward, cam_targets, guidance_loss
from .tasks import AGGREGATE, DATASET_JSON, Task

log = logging.getLogger("ichkit.classify")

VAL_FRACTION = 0.2  # patients held out for validation when the manifest has no split column
CHECKPOINT = "checkpoint.pt"  # latest epoch: model, optimiser, scheduler, history (for --resume)
MODEL = "model.pt"  # what `ich predict --model DIR` loads
TRAIN_SPLITS, EVAL_SPLITS = ("train",), ("val", "test")


@dataclass(frozen=True)
class ClassifyPreset:
    name: str
    epochs: int
    optimizer: str
    lr: float
    lr_min: float
    weight_decay: float
    batch_size: int
    augment: tuple[str, ...] = ()
    arch: str | None = None  # None: the task's default architecture
    arch_kwargs: dict = field(default_factory=dict)
    val_fraction: float = VAL_FRACTION
    seed: int = 0
    cam_guidance: float = 0.0  # weight of the Grad-CAM guidance loss (0: off)

    def with_overrides(self, **kw) -> "ClassifyPreset":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


_SMOKE = dict(epochs=3, optimizer="adam", lr=1e-3, lr_min=1e-4, weight_decay=0.0, batch_size=16)
PRESETS: dict[str, dict[str, ClassifyPreset]] = {
    "he": {
        "seed": ClassifyPreset("seed", 100, "adam", 2e-4, 1e-4, 0.0, 256),
        "smoke": ClassifyPreset("smoke", **_SMOKE, arch="vit_he_micro", arch_kwargs={"patch_size": 8}),
    },
    "ht": {
        "seed": ClassifyPreset("seed", 50, "adam", 1e-4, 1e-6, 1e-4, 8),
        "smoke": ClassifyPreset("smoke", **{**_SMOKE, "batch_size": 8}, arch="ctnet_ht_small"),
    },
    "location": {
        "seed": ClassifyPreset("seed", 10, "adamw", 2e-5, 0.0, 0.01, 32, augment=("rotate15", "sharpness2")),
        "smoke": ClassifyPreset("smoke", **_SMOKE, arch="dtvit_location_micro", arch_kwargs={"patch_size": 8}),
    },
}


def _optimizers():
    # deferred: torch loads only when a model trains (synth reads its manifests through this module)
    import torch

    return {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def _augmentations():
    """Geometric transforms move an image and its guide map (a tv_tensors.Mask) alike; intensity ones leave the guide."""
    # deferred: torchvision loads only when training augments its samples
    from torchvision.transforms import v2

    return {"rotate15": v2.RandomRotation(15), "sharpness2": v2.RandomAdjustSharpness(2.0), "hflip": v2.RandomHorizontalFlip()}


# ---- manifests and splits -------------------------------------------------------------------

def read_manifest(path: str | Path, required=("patient_id", "scan_id", "label", "path")) -> list[dict]:
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise TableError(path, f"cannot read the manifest ({exc.strerror})") from None
    missing = [c for c in required if rows and c not in rows[0]]
    if not rows or missing:
        raise TableError(path, f"manifest lacks column(s) {', '.join(missing) or 'and rows'}")
    for r in rows:
        r["_base"] = path.parent
        r["synthetic"] = int(r.get("synthetic") or 0)
    return rows


def check_patient_split(train: list[dict], held_out: list[dict], source=None) -> None:
    """Refuse any patient whose samples lie on both sides: slices of one patient never split."""
    both = sorted({r["patient_id"] for r in train} & {r["patient_id"] for r in held_out})
    if both:
        raise TableError(source, f"patient(s) {', '.join(both[:5])}{' ...' if len(both) > 5 else ''} are in both the training and the held-out split; splits must be by patient")


def patient_split(rows: list[dict], val_fraction: float, seed: int, source=None) -> tuple[list[dict], list[dict]]:
    """The manifest's `split` column when present, else a seeded split by patient, label-stratified."""
    if rows and "split" in rows[0]:
        train = [r for r in rows if r["split"] in TRAIN_SPLITS]
        held = [r for r in rows if r["split"] in EVAL_SPLITS]
    else:
        real = [r for r in rows if not r["synthetic"]]
        label_of: dict[str, int] = {}
        for r in real:
            label_of[r["patient_id"]] = max(label_of.get(r["patient_id"], 0), int(r["label"]))
        rng = np.random.default_rng(seed)
        held_ids: set[str] = set()
        for lab in sorted(set(label_of.values())):
            ids = sorted(p for p, v in label_of.items() if v == lab)
            rng.shuffle(ids)
            held_ids |= set(ids[: max(1, int(round(val_fraction * len(ids))))])
        train = [r for r in rows if r["patient_id"] not in held_ids]
        held = [r for r in real if r["patient_id"] in held_ids]
    if any(r["synthetic"] for r in held):
        raise TableError(source, "synthetic images cannot be in the held-out split")
    check_patient_split(train, held, source)
    return train, held


def parse_ratio(text: str | None) -> int | None:
    """'1:k' (positives : negatives) -> k."""
    if text is None:
        return None
    try:
        one, k = (int(x) for x in text.split(":"))
    except ValueError:
        one = k = 0
    if one != 1 or k < 1:
        raise OptionError(None, f"--ratio must look like 1:1, 1:2 or 1:4 (positives:negatives), got {text!r}")
    return k


def balance(train: list[dict], k: int | None, synthetic: list[dict], seed: int) -> list[dict]:
    """Raise the positives to 1:k: synthetic positives first (spec 8), then oversampled real ones."""
    real = [r for r in train if not r["synthetic"]]
    pool = [r for r in train if r["synthetic"]] + synthetic
    if k is None:
        return real + pool
    pos = [r for r in real if int(r["label"]) == 1]
    need = max(0, math.ceil(sum(int(r["label"]) == 0 for r in real) / k) - len(pos))
    extra = [r for r in pool if int(r["label"]) == 1][:need]
    rng = np.random.default_rng(seed)
    short = need - len(extra)
    if short > 0 and pos:
        extra += [pos[i] for i in rng.integers(0, len(pos), short)]
    log.info("ratio 1:%d: %d real positives, %d added (%d synthetic)", k, len(pos), len(extra), sum(r["synthetic"] for r in extra))
    return real + extra


# ---- data -----------------------------------------------------------------------------------

class SampleSet:
    """Manifest rows -> (image tensor with a channel axis, target per head); with `guided`, also the
    guide map (zeros where the row has none) and whether the row has one."""

    def __init__(self, rows: list[dict], task: Task, augment=(), guided: bool = False):
        self.rows, self.task, self.guided = rows, task, guided
        table = _augmentations() if augment else {}
        self.augment = [table[a] for a in augment]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        # deferred: torch loads only when a model trains (synth reads its manifests through this module)
        import torch

        r = self.rows[i]
        x = torch.from_numpy(np.load(Path(r["_base"]) / r["path"]).astype(np.float32))[None]
        has = bool(self.guided and r.get("guide"))
        guide = torch.from_numpy(np.load(Path(r["_base"]) / r["guide"]))[None] if has else torch.zeros(x.shape, dtype=torch.uint8)
        if self.augment:
            # deferred: torchvision loads only when training augments its samples
            from torchvision import tv_tensors

            x, guide = tv_tensors.Image(x), tv_tensors.Mask(guide)
            for aug in self.augment:
                x, guide = aug(x, guide)
            x, guide = x.as_subclass(torch.Tensor), guide.as_subclass(torch.Tensor)
        y = torch.tensor([int(r.get(col, -1)) for col in self.task.targets.values()])
        return (x, y, guide.float(), has) if self.guided else (x, y)


def sample_shape(rows: list[dict]) -> tuple[int, ...]:
    return np.load(Path(rows[0]["_base"]) / rows[0]["path"], mmap_mode="r").shape


def head_probabilities(model, loader, device) -> dict[str, np.ndarray]:
    # deferred: torch loads only when a model trains (synth reads its manifests through this module)
    import torch

    out: dict[str, list] = {h: [] for h in model.heads}
    model.eval()
    with torch.no_grad():
        for x, _ in loader:
            logits = model(x.to(device))
            for h, sl in model.heads.items():
                out[h].append(torch.softmax(logits[:, sl], 1).cpu().numpy())
    return {h: np.concatenate(v) for h, v in out.items()}


def scan_results(task: Task, rows: list[dict], probs: dict[str, np.ndarray]) -> list[dict]:
    """Per scan: true labels (scan level) and the aggregated probabilities of each head."""
    by_scan: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_scan.setdefault(r["scan_id"], []).append(i)
    out = []
    for scan, idx in by_scan.items():
        truth = {head: max(int(rows[i].get(col, -1)) for i in idx) for head, col in task.targets.items()}
        out.append({"scan_id": scan, "patient_id": rows[idx[0]]["patient_id"], "truth": truth,
                    "probs": AGGREGATE[task.name]({h: p[idx] for h, p in probs.items()})})
    return out


def task_auc(task: Task, scans: list[dict]) -> dict[str, float]:
    """AUC per head at the scan level: binary heads on class 1, multi-class heads one-vs-rest (macro).
    A head whose held-out scans all share one class (the ICH head when every scan bleeds) has no
    AUC and is left out, rather than a NaN that history.json could not carry as JSON."""
    result = {}
    for head, names in task.classes.items():
        y = np.array([s["truth"][head] for s in scans])
        p = np.stack([s["probs"][head] for s in scans])
        keep = y >= 0
        y, p = y[keep], p[keep]
        classes = [1] if len(names) == 2 else range(len(names))
        per = [auc((y == c).astype(int), p[:, c]) for c in classes if 0 < np.sum(y == c) < len(y)]
        if per:
            result[f"{head}_auc"] = float(np.mean(per))
    return result


# ---- training -------------------------------------------------------------------------------

@dataclass
class TrainResult:
    outdir: Path
    epochs_done: int
    resumed_from_epoch: int | None
    history: list[dict]
    model_path: Path


def _seed_everything(seed: int) -> None:
    # deferred: torch loads only when a model trains (synth reads its manifests through this module)
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _save(obj, path: Path) -> None:
    # deferred: torch loads only when a model trains (synth reads its manifests through this module)
    import torch

    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(obj, tmp)


def train_classifier(
    task: Task,
    manifest: str | Path,
    outdir: str | Path,
    preset: ClassifyPreset,
    *,
    arch: str | None = None,
    ratio: str | None = None,
    synthetic: str | Path | None = None,
    pretrained: str | None = None,
    device: str = "cpu",
    workers: int = 0,
    resume: bool = False,
    demo: bool = False,
    progress: Progress = silent,
) -> TrainResult:
    """Train `arch` (default: the preset's, else the task's) on a manifest; see the module docstring."""
    # deferred: torch loads only when a model trains (synth reads its manifests through this module)
    import torch
    from torch.utils.data import DataLoader
    from .models import create_model, is_volume_model

    outdir = Path(outdir)
    ckpt_path = outdir / CHECKPOINT
    if ckpt_path.exists() and not resume:
        raise OutputExistsError(ckpt_path, "a training already exists here; pass --resume to continue it or choose another -o")
    rows = read_manifest(manifest)
    train_rows, val_rows = patient_split(rows, preset.val_fraction, preset.seed, manifest)
    extra = read_manifest(synthetic) if synthetic else []
    for r in extra:
        r["synthetic"] = 1
    check_patient_split(extra, val_rows, synthetic)
    train_rows = balance(train_rows, parse_ratio(ratio), extra, preset.seed)
    if not val_rows:
        raise TableError(manifest, "no held-out patient to validate on")
    if preset.cam_guidance < 0:
        raise OptionError(None, f"the Grad-CAM guidance weight must be >= 0, got {preset.cam_guidance}")
    guided = preset.cam_guidance > 0
    if guided and not any(r.get("guide") for r in train_rows):
        raise TableError(manifest, "Grad-CAM guidance needs guide maps (a `guide` column; datasets built from scans with masks have them)")

    arch = arch or preset.arch or task.default_arch
    dataset_info = _dataset_info(manifest)
    shape = sample_shape(train_rows)
    kwargs = {**preset.arch_kwargs, **({} if is_volume_model(arch) else {"img_size": int(shape[-1])})}
    if pretrained is None and not is_volume_model(arch):
        warn(manifest, f"no local pretrained weights given (--pretrained PATH): {arch} trains from scratch")
    _seed_everything(preset.seed)
    model = create_model(arch, **kwargs, pretrained=pretrained).to(device)
    if set(model.heads) != set(task.targets):
        raise OptionError(None, f"architecture {arch} has heads {sorted(model.heads)}, task {task.name} needs {sorted(task.targets)}")
    if guided:
        allow_double_backward(model)
    opt = _optimizers()[preset.optimizer](model.parameters(), lr=preset.lr, weight_decay=preset.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=preset.epochs, eta_min=preset.lr_min)
    config = {"task": task.name, "arch": arch, "arch_kwargs": kwargs, "preset": asdict(preset), "ratio": ratio,
              "settings": dataset_info.get("settings", {}), "demo": demo, "classes": {h: list(c) for h, c in task.classes.items()}}

    start, history, resumed = 0, [], None
    if resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start, history, resumed = ck["epoch"], ck["history"], ck["epoch"]

    val_loader = DataLoader(SampleSet(val_rows, task), batch_size=preset.batch_size, num_workers=workers)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-1)
    heads = list(task.targets)
    for epoch in range(start, preset.epochs):
        _seed_everything(preset.seed * 100003 + epoch)  # each epoch's shuffle and dropout, also after --resume
        loader = DataLoader(SampleSet(train_rows, task, preset.augment, guided), batch_size=preset.batch_size, shuffle=True,
                            generator=torch.Generator().manual_seed(preset.seed * 100003 + epoch), num_workers=workers)
        model.train()
        total, guide_total, n = 0.0, 0.0, 0
        for batch in loader:
            x, y = batch[0].to(device), batch[1].to(device)
            with cam_activations(model) if guided else nullcontext() as captured:
                logits = model(x)
            loss = sum(loss_fn(logits[:, model.heads[h]], y[:, j]) for j, h in enumerate(heads) if (y[:, j] >= 0).any())
            if guided:
                targets, rows = cam_targets(model, task, y)
                g = guidance_loss(model, logits, captured[-1], targets, batch[2].to(device), rows & batch[3].to(device))
                loss = loss + preset.cam_guidance * g
                guide_total += g.item() * len(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
            n += len(x)
        sched.step()
        metrics = task_auc(task, scan_results(task, val_rows, head_probabilities(model, val_loader, device)))
        guide_metric = {"cam_guidance_loss": guide_total / max(n, 1)} if guided else {}
        history.append({"epoch": epoch + 1, "train_loss": total / max(n, 1), **guide_metric, "lr": opt.param_groups[0]["lr"], **metrics})
        log.info("epoch %d %s", epoch + 1, history[-1])
        _save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
               "epoch": epoch + 1, "history": history, "config": config}, ckpt_path)
        progress(epoch + 1, preset.epochs, f"epoch {epoch + 1} " + " ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    model_path = save_model(model, config, outdir / MODEL)
    write_json(outdir / "history.json", {"config": config, "history": history,
                                         "splits": {"train_patients": sorted({r["patient_id"] for r in train_rows}),
                                                    "held_out_patients": sorted({r["patient_id"] for r in val_rows})}})
    return TrainResult(outdir, preset.epochs, resumed, history, model_path)


def save_model(model, config: dict, path: Path) -> Path:
    """Weights (float32) plus everything predict needs to rebuild the network and its inputs."""
    _save({"config": config, "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}, path)
    return path


def _dataset_info(manifest) -> dict:
    info = Path(manifest).parent / DATASET_JSON
    return json.loads(info.read_text()) if info.is_file() else {}
