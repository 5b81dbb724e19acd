"""ICHSynth: the synthesis commands as background jobs, and the generated images in the scene.

Every step is an `ich` command in a child process (`ichkit.app.jobs`): training a generator
(`ich train synth`), sampling (`ich synth sample`), building a class-balanced training set
(`ich synth balance`) and the reader-study kit (`ich synth reader-study`). This file builds their
command lines, one function per step, and loads the sampled images for browsing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ichkit import scene
from ichkit.app.jobs import Job, ich_argv

IMAGE_GLOB = "images/*.png"
PREVIEW_SPACING = (1.0, 1.0, 1.0)  # sampled ROI images carry no physical geometry


def _options(**options: Any) -> list[str]:
    """`--name value` for every option given (None is left out; underscores become dashes)."""
    out: list[str] = []
    for name, value in options.items():
        if value is not None:
            out += [f"--{name.replace('_', '-')}", str(value)]
    return out


def train_argv(manifest: str | Path, outdir: str | Path, *, cls: str = "he", preset: str = "seed", epochs: int | None = None,
               device: str | None = None, python: str | None = None) -> list[str]:
    return ich_argv("train", "synth", "--data", manifest, "-o", outdir,
                    *_options(**{"class": cls}, preset=preset, epochs=epochs, device=device), "--json", python=python)


def sample_argv(model: str | Path, outdir: str | Path, *, n: int, seed: int = 0, sampler: str = "ddim", steps: int | None = None,
                device: str | None = None, python: str | None = None) -> list[str]:
    return ich_argv("synth", "sample", "--model", model, "-o", outdir,
                    *_options(n=n, seed=seed, sampler=sampler, steps=steps, device=device), "--json", python=python)


BALANCE_RATIO = "1:2"  # UKAN-Semibalanced, the study's best classifier's training set


def balance_argv(manifest: str | Path, synthetic: str | Path, out_csv: str | Path, *, ratio: str = BALANCE_RATIO,
                 python: str | None = None) -> list[str]:
    return ich_argv("synth", "balance", "--real", manifest, "--synthetic", synthetic, "--ratio", ratio, "-o", out_csv, "--json", python=python)


def reader_study_argv(manifest: str | Path, synthetic: str | Path, outdir: str | Path, *, n: int, seed: int = 0,
                      python: str | None = None) -> list[str]:
    return ich_argv("synth", "reader-study", "--real", manifest, "--synthetic", synthetic, "-o", outdir,
                    *_options(n_real=n, n_synthetic=n, seed=seed), "--json", python=python)


def start(argv: list[str]) -> Job:
    return Job(argv).start()


def sampled_images(folder: str | Path) -> list[Path]:
    """The PNG previews `ich synth sample` wrote, in file-name order."""
    return sorted(Path(folder).glob(IMAGE_GLOB))


def show_image(mrml_scene: Any, path: str | Path, node: Any = None) -> Any:
    """One sampled image (2D, grey) as a one-slice volume node, for the slice viewers."""
    import SimpleITK as sitk

    from ichkit.image import Volume

    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    grey = array if array.ndim == 2 else array[..., :3].mean(axis=-1)
    node = scene.volume_to_node(mrml_scene, Volume(np.asarray(grey, np.float32)[None], PREVIEW_SPACING), "ICH synthetic image", node=node)
    node.SetName(Path(path).stem)
    return node
