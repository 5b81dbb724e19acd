"""ICHSynth: the synthesis commands as background jobs, and the generated images in the scene.

Every step is an `ich` command in a child process (`ichkit.app.jobs`): training a generator
(`ich train synth`), sampling (`ich synth sample`), building a class-balanced training set
(`ich synth balance`) and the reader-study kit (`ich synth reader-study`). Their command lines
are `ichkit.app.synth.SynthRequest`'s; this file fills the requests in from the module's
parameters and loads the sampled images for browsing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ichkit import scene
from ichkit.app.jobs import Job
from ichkit.app.synth import SynthRequest
from ichkit.image import Volume

IMAGE_GLOB = "images/*.png"
OUTPUTS = {"train": "generator", "sample": "samples", "balance": "balanced", "reader-study": "reader_study"}  # under the work folder
PREVIEW_SPACING = (1.0, 1.0, 1.0)  # sampled ROI images carry no physical geometry


def request(step: str, params: Any, python: str | None = None) -> SynthRequest:
    """One step's request from the module's parameters (`ICHSynthParameterNode`); its outputs go
    to a fixed folder under the work folder (`OUTPUTS`), where the next step finds them."""
    out = Path(params.workFolder) / OUTPUTS[step]
    fields = {
        "train": dict(output=out, manifest=params.manifest, preset=params.preset, epochs=params.epochs, device=params.device),
        "sample": dict(output=out, model=params.model, n=params.sampleCount, seed=params.seed, device=params.device),
        "balance": dict(output=out / "balanced.csv", manifest=params.manifest, synthetic=params.synthetic),
        "reader-study": dict(output=out, manifest=params.manifest, synthetic=params.synthetic, n=params.readerCount, seed=params.seed),
    }[step]
    return SynthRequest(step, python=python, **fields)


def start(argv: list[str]) -> Job:
    return Job(argv).start()


def sampled_images(folder: str | Path) -> list[Path]:
    """The PNG previews `ich synth sample` wrote, in file-name order."""
    return sorted(Path(folder).glob(IMAGE_GLOB))


def show_image(mrml_scene: Any, path: str | Path, node: Any = None) -> Any:
    """One sampled image (2D, grey) as a one-slice volume node, for the slice viewers."""
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    grey = array if array.ndim == 2 else array[..., :3].mean(axis=-1)
    node = scene.volume_to_node(mrml_scene, Volume(np.asarray(grey, np.float32)[None], PREVIEW_SPACING), "ICH synthetic image", node=node)
    node.SetName(Path(path).stem)
    return node
