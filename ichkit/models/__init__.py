"""Model registry: manifest + schema, per-user cache, download, offline import, checksums (the
engines that run a registry entry live with them, in `ichkit.segment.engines`)."""

from .registry import ModelEntry, ModelFile, Registry, load_registry

__all__ = ["ModelEntry", "ModelFile", "Registry", "load_registry"]
