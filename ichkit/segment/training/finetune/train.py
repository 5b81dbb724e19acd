"""The fine-tuning loop: BLAST-CT's optimiser and loss at a small learning rate, one checkpoint per
epoch, early stopping on patches of the held-out fold, resumable after a kill.

Why the BatchNorm statistics stay the parent's: with a few patches per batch on a CPU, batch
statistics are noise, and frozen statistics keep the fine-tuned network's inference path exactly
the parent's (`blast_ct.BlastCTSegmenter` loads the result unchanged). The BatchNorm scales and
shifts, PReLU slopes and convolutions train. Epoch 0 is the parent itself: the kept model is the
epoch with the lowest held-out loss, so it can be the parent when nothing helped.
"""

from __future__ import annotations

import time
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ....atomic import atomic_path, write_json
from ....checkpoint import load_checkpoint, resume_checkpoint
from ....errors import OptionError, OutputExistsError
from ....progress import Progress, silent
from ...blast_ct import MODEL_CLASSES, build_network, load_weights
from ...deepmedic import PreActBlock
from .data import IGNORE, GroundTruth, batches, load_cases
from .settings import FinetuneSettings

CHECKPOINT, WEIGHTS, HISTORY = "checkpoint.pt", "model.pt", "history.json"
FORMAT = "ichkit-finetune-1"


@dataclass
class FinetuneResult:
    weights: Path
    history: list[dict]
    best_epoch: int
    epochs_done: int
    resumed_from_epoch: int | None
    stopped_early: bool
    settings: FinetuneSettings
    ground_truth: GroundTruth = field(repr=False)


def _trainable_activate(block, x, channel_dim: int):
    """`PreActBlock.activate` with gradients: frozen BatchNorm statistics, learnable scale, shift
    and PReLU slope (the inference version folds the slope into a float and works in place)."""
    bn = block.bn
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    shape = [1] * x.dim()
    shape[channel_dim] = -1
    h = x * scale.view(shape) + shift.view(shape)
    return torch.where(h >= 0, h, h * block.prelu.weight)


def trainable_network(state_dict: dict, freeze_context: bool = False):
    """The parent's DeepMedic with differentiable activations (same weights, same outputs)."""
    net = build_network(state_dict).requires_grad_(True)
    for module in net.modules():
        if isinstance(module, PreActBlock):
            module.activate = types.MethodType(_trainable_activate, module)
    if freeze_context:
        for pathway in net.pathways:
            if pathway.scale != 1:
                pathway.requires_grad_(False)
    return net


def _optimizer(net, lr: float):
    params = [p for p in net.parameters() if p.requires_grad]
    return torch.optim.RMSprop(params, lr=lr, momentum=0.6, alpha=0.9, weight_decay=1e-4)


def _evaluate(net, cases, settings: FinetuneSettings, device) -> dict:
    """Mean cross-entropy and pooled per-class Dice on the held-out patches (the same every epoch)."""
    loss_sum, n, inter, pred_sum, true_sum = 0.0, 0, {}, {}, {}
    with torch.no_grad():
        for x, y in batches(cases, settings.val_patches, settings.batch_size, settings.seed + 999_983, out_size=settings.out_patch, train=False):
            x, y = x.to(device), y.to(device)
            logits = net(x, (settings.out_patch,) * 3).float()
            loss_sum += float(F.cross_entropy(logits, y, ignore_index=IGNORE, reduction="sum"))
            valid = y != IGNORE
            n += int(valid.sum())
            pred = logits.argmax(1)
            for c in range(1, logits.shape[1]):
                p, t = (pred == c) & valid, (y == c)
                inter[c] = inter.get(c, 0) + int((p & t).sum())
                pred_sum[c] = pred_sum.get(c, 0) + int(p.sum())
                true_sum[c] = true_sum.get(c, 0) + int(t.sum())

    dice = {f"val_dice_{MODEL_CLASSES[c]}": 2 * inter[c] / (pred_sum[c] + true_sum[c]) for c in inter if true_sum[c]}
    return {"val_loss": loss_sum / max(n, 1), **dice}


def _save(path: Path, state: dict) -> None:
    with atomic_path(path, suffix="") as tmp:
        torch.save(state, tmp)


def _clone(state_dict: dict) -> dict:
    return {k: v.detach().cpu().clone() for k, v in state_dict.items()}


def finetune(parent_weights: Path, gt: GroundTruth, out: str | Path, settings: FinetuneSettings = FinetuneSettings(), *,
             parent_id: str = "", resume: bool = False, device: str = "cpu", progress: Progress = silent) -> FinetuneResult:
    """Train from `parent_weights` on `gt.train`, stop on `gt.val`; OUT gets checkpoint.pt (each
    epoch, atomically), model.pt (the kept state_dict) and history.json."""
    out = Path(out)
    ckpt_path = resume_checkpoint(out / CHECKPOINT, resume, "an earlier fine-tuning")
    for name in (WEIGHTS, HISTORY):
        if (out / name).exists() and not resume:
            raise OutputExistsError(out / name, "already exists; choose another -o")
    identity = {"format": FORMAT, "parent": parent_id, "train": gt.train, "val": gt.val, "fold": gt.fold}
    checkpoint = load_checkpoint(ckpt_path) if resume else None
    if checkpoint is not None and {k: checkpoint.get(k) for k in identity} != identity:
        raise OptionError(ckpt_path, "was made from another parent model, dataset or fold; choose another -o")

    total_epochs = settings.epochs
    n_train_batches = -(-settings.patches_per_epoch // settings.batch_size)
    steps = total_epochs * (n_train_batches + 1) + 1  # +1 per epoch: its held-out evaluation; +1: epoch 0
    train_cases = load_cases(gt, gt.train, lambda i, n, w: progress(0, steps, w))
    val_cases = load_cases(gt, gt.val, lambda i, n, w: progress(0, steps, w))
    net = trainable_network(load_weights(parent_weights), settings.freeze_context).to(device)
    optimizer = _optimizer(net, settings.lr)
    if checkpoint is None:
        history = [{"epoch": 0, **_evaluate(net, val_cases, settings, device), "seconds": 0.0}]  # the parent, before any step
        best_state, best_epoch, bad, start_epoch, resumed = _clone(net.state_dict()), 0, 0, 1, None
        out.mkdir(parents=True, exist_ok=True)
    else:
        net.load_state_dict(checkpoint["state"])  # onto the device the net is on
        optimizer.load_state_dict(checkpoint["optimizer"])
        history, best_state, best_epoch, bad = checkpoint["history"], checkpoint["best_state"], checkpoint["best_epoch"], checkpoint["bad_epochs"]
        start_epoch = resumed = checkpoint["epoch"] + 1
    done = 1 + (start_epoch - 1) * (n_train_batches + 1)
    progress(done, steps, "held-out loss of the parent" if resumed is None else f"resumed at epoch {resumed}")
    began, step_times = time.monotonic(), []
    stopped = bad >= settings.patience
    for epoch in range(start_epoch, total_epochs + 1):
        if stopped:
            break
        t0 = time.monotonic()
        loss_sum, nb = 0.0, 0
        for i, (x, y) in enumerate(batches(train_cases, settings.patches_per_epoch, settings.batch_size, settings.seed * 100_003 + epoch,
                                           out_size=settings.out_patch)):
            t = time.monotonic()
            step = (epoch - 1) * n_train_batches + i + 1  # from the epoch, so a resumed run warms up as an uninterrupted one
            for group in optimizer.param_groups:
                group["lr"] = settings.lr * min(1.0, step / max(settings.warmup_steps, 1))
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x, (settings.out_patch,) * 3).float(), y, ignore_index=IGNORE)
            loss.backward()
            optimizer.step()
            loss_sum, nb = loss_sum + float(loss), nb + 1
            step_times.append(time.monotonic() - t)
            done += 1
            eta = (steps - done) * sum(step_times) / len(step_times)
            progress(done, steps, f"epoch {epoch}/{total_epochs} loss {loss_sum / nb:.4f}, ETA {eta / 60:.0f} min")
        scores = _evaluate(net, val_cases, settings, device)
        done += 1
        history.append({"epoch": epoch, "train_loss": loss_sum / max(nb, 1), **scores, "seconds": time.monotonic() - t0})
        best_loss = min(h["val_loss"] for h in history[:-1])
        if scores["val_loss"] < best_loss:
            best_state, best_epoch, bad = _clone(net.state_dict()), epoch, 0
        else:
            bad += 1
        stopped = bad >= settings.patience and epoch < total_epochs
        _save(ckpt_path, {**identity, "epoch": epoch, "state": _clone(net.state_dict()), "optimizer": optimizer.state_dict(),
                          "best_state": best_state, "best_epoch": best_epoch, "bad_epochs": bad, "history": history,
                          "settings": asdict(settings)})
        progress(done, steps, f"epoch {epoch}: held-out loss {scores['val_loss']:.4f} (best: epoch {best_epoch})")
    _save(out / WEIGHTS, best_state)
    write_json(out / HISTORY, {"best_epoch": best_epoch, "settings": asdict(settings), "train_cases": len(gt.train),
                               "held_out_cases": len(gt.val), "fold": gt.fold, "epochs": history,
                               "seconds": time.monotonic() - began})
    progress(steps, steps, f"kept epoch {best_epoch}")
    return FinetuneResult(out / WEIGHTS, history, best_epoch, max(h["epoch"] for h in history), resumed, stopped, settings, gt)
