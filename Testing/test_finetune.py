"""Fine-tuning BLAST-CT on a site's ground truth: a registry model, resumable, strict on bad input.

Tiny phantoms, small patches and two epochs: these check the plumbing (checkpoint, resume,
registration, the segmenter finding the model), not whether fine-tuning helps; that is
bench/finetune_acceptance.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ichkit.app.groundtruth import save_ground_truth  # noqa: E402
from ichkit.cli import main  # noqa: E402
from ichkit.models import load_registry  # noqa: E402
from ichkit.models.importer import import_models  # noqa: E402
from ichkit.phantom import make_phantom  # noqa: E402
from ichkit.segment.training.finetune.settings import MIN_CASES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"shape": (6, 48, 48), "spacing": (2.5, 2.5, 5.0)}  # 120 x 120 x 30 mm: a ~0.4 M voxel 1 mm grid
FAST = ["--epochs", "2", "--patches", "2", "--val-patches", "2", "--batch-size", "2", "--patch", "6", "--no-progress"]


def make_dataset(root: Path, n: int = MIN_CASES, name: str = "Dataset950_Site", **phantom) -> Path:
    dataset = root / name
    for i in range(n):
        ph = make_phantom(100 + i, **{**SMALL, **phantom})
        save_ground_truth(ph.ct, ph.labels, dataset, f"C{i:02d}", patient_id=f"P{i}")
    return dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("gt"))


@pytest.fixture()
def parent(ich_cache, shared_dir, tmp_path) -> str:
    weights = shared_dir / "models" / "blast-ct-v1" / "model_1.pt"
    if not weights.is_file():
        pytest.skip("no BLAST-CT weights in the shared folder")
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(weights, folder / "model_1.pt")
    assert import_models(folder).installed == ["blast-ct-v1-single"]
    return "blast-ct-v1-single"


def test_finetune_registers_a_model_that_segments(parent, dataset, tmp_path, capsys):
    out = tmp_path / "ft"
    assert main(["train", "finetune", "--from", parent, "--dataset", str(dataset), "-o", str(out), "--name", "site A",
                 *FAST, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["model_id"] == "blast-ct-v1-ft-site-a" and payload["epochs_done"] == 2
    assert [h["epoch"] for h in payload["history"]] == [0, 1, 2]  # epoch 0: the parent's held-out loss
    entry = load_registry().get("blast-ct-v1-ft-site-a")
    parent_entry = load_registry().get(parent)
    assert entry.user and entry.architecture == parent_entry.architecture and entry.spacing == parent_entry.spacing
    assert "blast-ct-v1-single" in entry.card_text() and "8 training case(s), 2 held-out" in entry.card_text()
    assert (out / "card.md").read_text() == entry.card_text()
    assert "Whole held-out scans" in entry.card_text() and "blast-ct-v1-ft-site-a IPH: Dice" in entry.card_text()
    compare = (out / "compare" / "compare.md").read_text()  # parent and fine-tuned on the held-out scans, paired
    assert "Paired against blast-ct-v1-single" in compare and (out / "compare" / "bland_altman_IPH.png").stat().st_size > 1000
    assert {(r["model"], r["label"]) for r in payload["comparison"]} == {(m, k) for m in (parent, entry.id) for k in ("IPH", "IVH")}
    assert main(["bench-seg", str(dataset), "--models", parent, "-o", str(tmp_path / "cmp"), "--no-progress"]) == 2
    assert "at least two different models" in capsys.readouterr().err and not (tmp_path / "cmp").exists()
    ct = tmp_path / "ct.nii.gz"
    ph = make_phantom(7, **SMALL)
    import SimpleITK as sitk

    sitk.WriteImage(ph.ct.to_sitk(), str(ct))
    assert main(["segment", str(ct), "--model", entry.id, "-o", str(tmp_path / "seg"), "--no-progress", "--json"]) == 0
    assert entry.id in capsys.readouterr().out
    capsys.readouterr()
    from ichkit.models import cache

    assert cache.is_installed(load_registry().get(parent))  # the parent stays installed
    # a second run of the same name is refused before anything is written
    assert main(["train", "finetune", "--from", parent, "--dataset", str(dataset), "-o", str(tmp_path / "ft2"),
                 "--name", "site A", *FAST]) == 2
    assert "already installed" in capsys.readouterr().err and not (tmp_path / "ft2").exists()


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "ichkit", "train", "finetune", *args]


def test_resume_after_sigkill_continues_from_the_last_checkpoint(parent, dataset, tmp_path, ich_cache, capsys):
    out = tmp_path / "ft"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ICHKIT_CACHE": str(ich_cache), "OMP_NUM_THREADS": "1"}
    args = ["--from", parent, "--dataset", str(dataset), "-o", str(out), "--name", "kill", "--epochs", "3", "--patches", "2",
            "--val-patches", "1", "--batch-size", "2", "--patch", "6", "--patience", "9", "--no-compare", "--no-progress"]
    proc = subprocess.Popen(_cli(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = out / "checkpoint.pt"
    deadline = time.monotonic() + 600
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    epoch = torch.load(ckpt, weights_only=True)["epoch"]
    assert 1 <= epoch < 3 and not (out / "model.pt").exists()
    assert main(["train", "finetune", *args]) == 2  # an existing checkpoint is never silently replaced
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "finetune", *args, "--resume", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["resumed_from_epoch"] == epoch + 1 and payload["epochs_done"] == 3
    assert [h["epoch"] for h in payload["history"]] == [0, 1, 2, 3]
    assert torch.load(ckpt, weights_only=True)["history"][: epoch + 1] == payload["history"][: epoch + 1]


@pytest.mark.parametrize("problem", ["few", "labels", "spacing"])
def test_bad_dataset_one_line_exit_2_nothing_written(parent, tmp_path, capsys, problem):
    if problem == "few":
        dataset = make_dataset(tmp_path, MIN_CASES - 1)
        expect = f"at least {MIN_CASES}"
    elif problem == "labels":
        dataset = make_dataset(tmp_path)
        info = json.loads((dataset / "dataset.json").read_text())
        info["labels"]["calcification"] = 3
        (dataset / "dataset.json").write_text(json.dumps(info))
        expect = "not one the network has"
    else:
        dataset = make_dataset(tmp_path, shape=(3, 48, 48), spacing=(2.5, 2.5, 12.0))
        expect = "voxel size"
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    out = tmp_path / "ft"
    assert main(["train", "finetune", "--dataset", str(dataset), "-o", str(out), *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expect in err[0], err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not any(e.id.startswith("blast-ct-v1-ft-") for e in load_registry().list())
