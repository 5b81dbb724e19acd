"""Architecture name -> factory that builds a runnable model from a registry entry (timm-style).

A manifest entry names its engine in `architecture`; adding an engine is one decorated function
here, and `create_segmenter(entry, device)` is the one way the CLI, Slicer and the web app get a
segmenter. Factories import their framework lazily so listing models never loads torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

from ..errors import ModelError, warn
from ..progress import Progress, silent
from ..models import cache
from ..models.download import ensure_installed
from ..models.registry import ModelEntry, Registry, load_registry
from .blast_ct import BlastCTSegmenter
from .nnunet_predict import NnUNetSegmenter

if TYPE_CHECKING:
    from ..image import Volume

# installed real models tried in this order when the user names none (single network first: 12x faster)
PREFERRED_SEGMENTATION = ("blast-ct-v1-single", "blast-ct-v1")
DEMO_SEGMENTATION = "ich-demo-phantom"


class Segmenter(Protocol):
    def predict(self, ct: "Volume", progress: Progress = silent): ...


SegmenterFactory = Callable[[ModelEntry, str, bool], Segmenter]  # (entry, device, keep probabilities)
SEGMENTERS: dict[str, SegmenterFactory] = {}


def register_segmenter(architecture: str) -> Callable[[SegmenterFactory], SegmenterFactory]:
    def add(factory: SegmenterFactory) -> SegmenterFactory:
        SEGMENTERS[architecture] = factory
        return factory

    return add


@register_segmenter("deepmedic-blast-ct")
def _blast_ct(entry: ModelEntry, device: str, probabilities: bool) -> Segmenter:
    paths = cache.verified_paths(entry)
    members = [paths[f.name] for f in entry.member_files()]
    return BlastCTSegmenter(members, device, model_id=entry.id, keep_probabilities=probabilities)


@register_segmenter("nnunet-v2")
def _nnunet(entry: ModelEntry, device: str, probabilities: bool) -> Segmenter:
    """An imported nnU-Net v2 results folder, run by nnU-Net's own predictor (all folds)."""
    if probabilities:
        raise ModelError(entry.id, "nnU-Net results folders report labels only; run without --probabilities")
    paths = cache.verified_paths(entry)
    plans = next(p for name, p in paths.items() if name.endswith("plans.json"))
    return NnUNetSegmenter(plans.parent, device, model_id=entry.id)


@register_segmenter("nnunet-torchscript")
def _nnunet_torchscript(entry: ModelEntry, device: str, probabilities: bool) -> Segmenter:
    """An nnU-Net network exported to TorchScript (network.pt + preprocessing.json): the lean path."""
    # deferred: the lean engine imports torch, which loads only when its model runs
    from .lean import LeanSegmenter

    paths = cache.verified_paths(entry)
    facts = next(p for name, p in paths.items() if name.endswith("preprocessing.json"))
    return LeanSegmenter(facts.parent, device, model_id=entry.id, keep_probabilities=probabilities)


def create_segmenter(entry: ModelEntry, device: str = "cpu", progress: Progress = silent, probabilities: bool = False) -> Segmenter:
    """Install the model if needed (download on first use), verify its files, build its engine."""
    if entry.task != "segmentation":
        raise ModelError(entry.id, f"is a {entry.task} model, not a segmentation model")
    factory = SEGMENTERS.get(entry.architecture)
    if factory is None:
        raise ModelError(entry.id, f"needs engine {entry.architecture!r}, which this version of ichkit lacks (engines: {', '.join(sorted(SEGMENTERS))})")
    ensure_installed(entry, progress)
    return factory(entry, device, probabilities)


def default_segmentation_model(registry: Registry | None = None) -> ModelEntry:
    """The best installed real model; else the phantom-trained demo model, with a warning."""
    registry = registry or load_registry()
    for model_id in PREFERRED_SEGMENTATION:
        if model_id in registry and cache.is_installed(registry.get(model_id)):
            return registry.get(model_id)
    if DEMO_SEGMENTATION not in registry:
        raise ModelError(
            None,
            f"no segmentation model is installed; run `ich models download {PREFERRED_SEGMENTATION[0]}` "
            "or, offline, `ich models import PATH` with its files",
        )
    warn(DEMO_SEGMENTATION, f"no real model is installed, so the demo model runs: it was trained on phantoms only and is not for clinical use (install one with `ich models download {PREFERRED_SEGMENTATION[0]}`)")
    return registry.get(DEMO_SEGMENTATION)
