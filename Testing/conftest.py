"""Shared pytest setup: offline hubs, the Testing folder and the checkout (for the Slicer modules'
shared `ICHToolkitLib`) on sys.path, the shared data root."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))
sys.path.append(str(Path(__file__).resolve().parents[1]))

SHARED = Path(os.environ.get("ICH_SHARED", Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared data folder {SHARED} is absent (set ICH_SHARED)")
    return SHARED


@pytest.fixture()
def ich_cache(tmp_path, monkeypatch) -> Path:
    """A private model cache so tests never touch the user's."""
    cache = tmp_path / "model-cache"
    monkeypatch.setenv("ICHKIT_CACHE", str(cache))
    return cache
