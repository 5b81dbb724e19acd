"""Quality of synthetic images (spec 8): FID and Inception Score on Inception-v3 features, KID for
small samples, and a domain FID/KID on the project's own trained HE classifier encoder.

Inception weights come only from a file the user names (torch-fidelity's converted TF-Inception,
`weights-inception-2015-12-05-6726825d.pth`): the toolkit never downloads them, and without one
the FID/IS request stops before any image is read. The domain metrics answer the same question
("do the two sets have the same feature distribution?") in features trained on head CT rather
than on ImageNet photographs, and need no outside weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..classify.predict import load_classifier
from ..errors import ModelError
from ..progress import Progress, silent
from .frechet import KID_SUBSET_SIZE, frechet_from_features, kernel_inception_distance
from .images import image_files, load_resized, to_uint8
from .manifest import class_label

INCEPTION_SIZE = 299  # Inception-v3 input
INCEPTION_FEATURES = "2048"  # pool features (FID, KID)
INCEPTION_LOGITS = "logits_unbiased"  # class logits (IS)
IS_SPLITS = 10
FEATURE_BATCH = 32
INCEPTION_WEIGHTS_OPTION = "--inception-weights"


def require_feature_source(inception_weights, encoder) -> None:
    """Fail fast: FID/IS without Inception weights (and no domain encoder) cannot run offline."""
    if inception_weights is None and encoder is None:
        raise ModelError(None, f"FID and IS need Inception-v3 weights, which are never downloaded: pass {INCEPTION_WEIGHTS_OPTION} FILE "
                               "(torch-fidelity's weights-inception-2015-12-05 .pth), or --encoder MODEL for a domain FID/KID "
                               "on a trained HE classifier")
    if inception_weights is not None and not Path(inception_weights).is_file():
        raise ModelError(inception_weights, f"Inception weights file not found ({INCEPTION_WEIGHTS_OPTION})")


def _batches(files, size: int, batch: int):
    for i in range(0, len(files), batch):
        yield np.stack([load_resized(f, size) for f in files[i : i + batch]])


def _inception(weights: Path, device: str):
    try:
        # deferred: torch-fidelity comes with the [ml] extra; only the Inception metrics need it
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        raise ModelError(None, "FID/IS need torch-fidelity: pip install 'ichkit[ml]'") from None
    try:
        net = FeatureExtractorInceptionV3("inception-v3-compat", [INCEPTION_FEATURES, INCEPTION_LOGITS],
                                          feature_extractor_weights_path=str(weights))
    except Exception as exc:  # noqa: BLE001 - unpickling or key mismatch: not the weights we need
        raise ModelError(weights, f"not torch-fidelity Inception-v3 weights ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    return net.to(device)


def inception_features(files, weights: Path, *, device: str = "cpu", progress: Progress = silent, what: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(pool features (n, 2048), logits (n, 1008)) of grey images replicated to RGB."""
    net = _inception(weights, device)
    feats, logits = [], []
    with torch.no_grad():
        for i, b in enumerate(_batches(files, INCEPTION_SIZE, FEATURE_BATCH)):
            x = torch.from_numpy(to_uint8(b))[:, None].expand(-1, 3, -1, -1).contiguous().to(device)
            f, lg = net(x)
            feats.append(f.cpu().numpy())
            logits.append(lg.cpu().numpy())
            progress(min((i + 1) * FEATURE_BATCH, len(files)), len(files), f"inception {what}")
    return np.concatenate(feats), np.concatenate(logits)


def encoder_features(files, encoder: str | Path, *, device: str = "cpu", progress: Progress = silent, what: str = "") -> np.ndarray:
    """Pooled features of the trained HE classifier's encoder (its `features`), at its input size."""
    clf = load_classifier("he", encoder, device)
    net, size = clf.models[0], clf.settings.size
    out = []
    with torch.no_grad():
        for i, b in enumerate(_batches(files, size, FEATURE_BATCH)):
            f = net.features(torch.from_numpy(b)[:, None].to(device))
            out.append(f.flatten(1).cpu().numpy())
            progress(min((i + 1) * FEATURE_BATCH, len(files)), len(files), f"encoder {what}")
    return np.concatenate(out)


def inception_score(logits: np.ndarray, splits: int = IS_SPLITS) -> tuple[float, float]:
    """Salimans et al. (2016): exp(E_x KL(p(y|x) || p(y))), mean and std over `splits` chunks."""
    # deferred: torch-fidelity comes with the [ml] extra; only the Inception metrics need it
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

    res = isc_features_to_metric(torch.from_numpy(logits), splits=min(splits, logits.shape[0]))
    return res[KEY_METRIC_ISC_MEAN], res[KEY_METRIC_ISC_STD]


def _distances(real: np.ndarray, fake: np.ndarray, kid_subset_size: int) -> dict:
    kid, kid_std = kernel_inception_distance(real, fake, subset_size=kid_subset_size)
    return {"fid": frechet_from_features(real, fake), "kid": kid, "kid_std": kid_std, "feature_dim": int(real.shape[1])}


def quality(real: str | Path, fake: str | Path, *, inception_weights: str | Path | None = None, encoder: str | Path | None = None,
            cls: str = "he", kid_subset_size: int = KID_SUBSET_SIZE, device: str = "cpu", progress: Progress = silent) -> dict:
    """FID / IS / KID of `fake` against `real` (folders of images, or manifests: their rows of
    class `cls`, real rows only on the real side)."""
    require_feature_source(inception_weights, encoder)
    label = class_label(cls)
    real_files = image_files(real, lambda r: int(r["label"]) == label and not r["synthetic"])
    fake_files = image_files(fake, lambda r: int(r["label"]) == label)
    out: dict = {"n_real": len(real_files), "n_fake": len(fake_files)}
    if inception_weights is not None:
        fr, lr = inception_features(real_files, Path(inception_weights), device=device, progress=progress, what="real")
        ff, lf = inception_features(fake_files, Path(inception_weights), device=device, progress=progress, what="fake")
        is_fake, is_fake_std = inception_score(lf)
        is_real, is_real_std = inception_score(lr)
        out["inception"] = {**_distances(fr, ff, kid_subset_size), "is": is_fake, "is_std": is_fake_std,
                            "is_real": is_real, "is_real_std": is_real_std, "weights": str(inception_weights)}
    if encoder is not None:
        er = encoder_features(real_files, encoder, device=device, progress=progress, what="real")
        ef = encoder_features(fake_files, encoder, device=device, progress=progress, what="fake")
        out["domain"] = {**_distances(er, ef, kid_subset_size), "encoder": str(encoder)}
    return out
