"""MONAI architectures inside nnU-Net's trainer (SwinUNETR, UNETR) and the `ich bench-seg` benchmark.

One module-scoped run on four small phantoms (the geometry of test_segment_nnunet.py): the smoke
preset trains SwinUNETR through `ich train segment --arch swinunetr`, then `ich bench-seg` trains
UNETR itself and reuses the SwinUNETR training, and scores both on the fold's held-out patients.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import warnings

import numpy as np
import pytest
import torch

from ichkit.cli import main
from ichkit.errors import ICHWarning, ModelError
from ichkit.labels import IPH, IVH
from ichkit.phantom import make_phantom
from test_segment_nnunet import SMALL, _cohort, dice

ARCHS = ("swinunetr", "unetr")
FITTED_PATCH = {"swinunetr": [32, 64, 32], "unetr": [16, 32, 32]}  # the smoke preset's 8 x 32 x 32, grown to fit


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def _model_dir(work, dataset, arch):
    return work / "nnUNet_results" / dataset.name / f"nnUNetTrainerICH_smoke_{arch}__nnUNetPlans_smoke_{arch}__3d_fullres"


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    dataset, work, out = tmp / "Dataset955_Bench", tmp / "work", tmp / "out"
    assert main(["dataset", "build", str(_cohort(tmp, n=4)), "-o", str(dataset), "--no-progress"]) == 0
    trained = _run(["train", "segment", str(dataset), "--arch", "swinunetr", "--preset", "smoke", "--device", "cpu",
                    "-o", str(work), "--no-progress", "--json"])
    benched = _run(["bench-seg", str(dataset), "--archs", ",".join(ARCHS), "--preset", "smoke", "--device", "cpu",
                    "--work", str(work), "-o", str(out), "--no-progress", "--json"])
    return dataset, work, out, trained, benched


def test_smoke_trains_swinunetr_and_unetr_for_real(bench):
    dataset, work, _, (code, stdout, stderr), (bench_code, _, bench_err) = bench
    assert code == 0 and bench_code == 0, stderr + bench_err
    assert json.loads(stdout)["epochs_done"] == 2
    # the patch of the smoke preset does not fit either network: said in one line, then grown
    assert "patch 8 x 32 x 32 of preset smoke does not fit" in stderr and "training on 32 x 64 x 32" in stderr
    assert "training on 16 x 32 x 32" in bench_err and "Traceback" not in stderr + bench_err
    for arch in ARCHS:
        model_dir = _model_dir(work, dataset, arch)
        plans = json.loads((model_dir / "plans.json").read_text())
        cfg = plans["configurations"]["3d_fullres"]
        assert cfg["architecture"]["network_class_name"] == f"ichkit.segment.training.monai_nets.{arch}"
        assert cfg["patch_size"] == FITTED_PATCH[arch]
        assert cfg["data_identifier"] == "nnUNetPlans_smoke_3d_fullres"  # the U-Net's preprocessed data, shared
        ckpt = torch.load(model_dir / "fold_0" / "checkpoint_final.pth", weights_only=False)
        assert ckpt["current_epoch"] == 2 and len(ckpt["logging"]["mean_fg_dice"]) == 2
        assert ckpt["trainer_name"] == f"nnUNetTrainerICH_smoke_{arch}"


def test_trained_folders_segment_through_ichkit_inference(bench):
    from ichkit.segment.training.export import export_torchscript
    from ichkit.segment.lean import LeanSegmenter
    from ichkit.segment.nnunet_predict import NnUNetSegmenter

    dataset, work, _, _, _ = bench
    ct = make_phantom(99, **SMALL).ct
    for arch in ARCHS:
        model_dir = _model_dir(work, dataset, arch)
        ref = NnUNetSegmenter(model_dir).predict(ct).labels
        assert ref.same_geometry(ct) and set(np.unique(ref.array)) <= {0, IPH, IVH}
        exported = export_torchscript(model_dir, 0, work / f"export_{arch}")[0].parent
        facts = json.loads((exported / "preprocessing.json").read_text())
        assert facts["patch_size"] == FITTED_PATCH[arch] and facts["total_stride"] is None  # runs on its patch only
        lean = LeanSegmenter(exported, nnunet_windows=True).predict(ct).labels
        for value in (IPH, IVH):
            assert dice(ref.array == value, lean.array == value) >= 0.99
        assert LeanSegmenter(exported).predict(ct).labels.same_geometry(ct)  # the default path (body crop) too


def test_bench_seg_writes_table_and_plots(bench):
    from ichkit.segment.benchmark.architectures import BLAND_ALTMAN_PNG, CASES_CSV, PSEUDO_DICE_PNG, TABLE_CSV, TABLE_MD

    _, _, out, _, (code, stdout, stderr) = bench
    assert code == 0, stderr
    payload = json.loads(stdout)
    assert payload["reused"] == ["swinunetr"]  # trained by `ich train segment`; unetr was trained by the benchmark
    rows = list(csv.DictReader(open(out / TABLE_CSV)))
    assert [r["arch"] for r in rows] == list(ARCHS)
    for row in rows:
        assert row["epochs"] == "2" and int(row["cases"]) >= 1
        for name in ("IPH", "IVH"):
            assert 0.0 <= float(row[f"{name}_dice_mean"]) <= 1.0 and 0.0 <= float(row[f"{name}_iou_mean"]) <= 1.0
            assert float(row[f"{name}_abs_volume_error_ml_mean"]) >= 0.0
    cases = list(csv.DictReader(open(out / CASES_CSV)))
    assert len(cases) == len(ARCHS) * 2 * int(rows[0]["cases"])  # per arch, case and class
    assert all(float(c["true_ml"]) > 0 for c in cases)  # every phantom holds IPH and IVH
    table = (out / TABLE_MD).read_text()
    assert table.count("| swinunetr |") == 1 and table.count("| unetr |") == 1 and " ± " in table
    for png in [PSEUDO_DICE_PNG] + [BLAND_ALTMAN_PNG.format(n) for n in ("IPH", "IVH")]:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_seg_refuses_with_one_line(bench):
    dataset, work, out, _, _ = bench
    common = ["bench-seg", str(dataset), "--preset", "smoke", "--device", "cpu", "--work", str(work), "--no-progress"]
    for extra, message in ((["--archs", "swinunetr,unetr", "-o", str(out)], "--overwrite"),  # results are never silently replaced
                           (["--archs", "unetr,unetr", "-o", str(out / "x")], "name each architecture once"),
                           (["--archs", "unetr", "--fold", "all", "-o", str(out / "x")], "held-out patients"),
                           (["--archs", "nnformer", "-o", str(out / "x")], "unknown")):
        code, _, err = _run(common + extra)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_monai_builders_refuse_deep_supervision_and_fit_patches():
    from ichkit.segment.training.monai_nets import SWINUNETR, UNETR, swinunetr

    with pytest.raises(ModelError, match="no deep-supervision"):
        swinunetr(1, 3, deep_supervision=True, feature_size=12)
    assert SWINUNETR.fit_patch([40, 224, 192]) == [64, 224, 192]
    assert SWINUNETR.fit_patch([8, 32, 32]) == FITTED_PATCH["swinunetr"]
    assert UNETR.fit_patch([8, 32, 32]) == FITTED_PATCH["unetr"] and UNETR.fit_patch([16, 160, 160]) == [16, 160, 160]


def test_derive_plans_warns_once_about_a_patch_that_does_not_fit(bench):
    from ichkit.segment.training.nnunet_train import derive_plans
    from ichkit.segment.training.presets import PRESETS

    dataset, work, _, _, _ = bench
    base = json.loads((work / "nnUNet_preprocessed" / dataset.name / "nnUNetPlans.json").read_text())
    with pytest.warns(ICHWarning, match="does not fit: unetr needs every patch axis a multiple of 16"):
        plans = derive_plans(base, PRESETS["smoke"], "unetr")
    kwargs = plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
    assert kwargs["img_size"] == FITTED_PATCH["unetr"] and kwargs["hidden_size"] == 48  # the tiny widths of smoke
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nnU-Net's U-Net takes any patch: no warning
        assert derive_plans(base, PRESETS["smoke"])["plans_name"] == "nnUNetPlans_smoke"


def test_segmentation_metrics():
    from ichkit.evaluate.segmentation import hd95_mm, iou, mask_agreement, mean_sd

    true = np.zeros((10, 20, 20), bool)
    true[2:8, 5:15, 5:15] = True
    pred = np.roll(true, 2, axis=2)  # shifted two voxels in x
    m = mask_agreement(pred, true, (5.0, 1.0, 1.0), 0.005)
    assert m["dice"] == pytest.approx(0.8) and m["iou"] == pytest.approx(iou(pred, true)) == pytest.approx(8 / 12)
    assert m["hd95_mm"] == pytest.approx(2.0) and m["abs_volume_error_ml"] == 0.0 and m["rel_volume_error_pct"] == 0.0
    assert hd95_mm(true, true, (5.0, 1.0, 1.0)) == 0.0 and np.isnan(hd95_mm(true, np.zeros_like(true), (1, 1, 1)))
    empty = mask_agreement(np.zeros_like(true), np.zeros_like(true), (1, 1, 1), 1.0)
    assert empty["dice"] == 1.0 and empty["hd95_mm"] == 0.0 and np.isnan(empty["rel_volume_error_pct"])
    assert mean_sd([1.0, 3.0, float("nan")]) == (2.0, pytest.approx(np.sqrt(2.0)), 2)
