"""Model registry: manifest + schema, per-user cache, download, offline import, checksums, engines."""

from .engines import create_segmenter, default_segmentation_model
from .registry import ModelEntry, ModelFile, Registry, load_registry

__all__ = ["ModelEntry", "ModelFile", "Registry", "load_registry", "create_segmenter", "default_segmentation_model"]
