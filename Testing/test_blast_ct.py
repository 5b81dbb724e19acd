"""BLAST-CT v1: our DeepMedic loads the published weights and computes what the peer computes.

The peer (blast-ct 2.1.0 from PyPI) runs in its own interpreter, named by ICH_PEER_PYTHON
(bench/peer_env.sh creates it); those comparisons are skipped when it is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

torch = pytest.importorskip("torch")

from ichkit.errors import ICHWarning, ModelError  # noqa: E402
from ichkit.image import Volume  # noqa: E402
from ichkit.io import load_ct  # noqa: E402
from ichkit.labels import EAH, EDEMA, IPH, IVH  # noqa: E402
from ichkit.phantom import make_phantom  # noqa: E402
from ichkit.phantom.tilt import tilt  # noqa: E402
from ichkit.preprocess import intracranial_mask  # noqa: E402
from ichkit.segment.blast_ct import (  # noqa: E402
    PRODUCT_LABEL,
    BlastCTSegmenter,
    build_network,
    load_weights,
    model_grid,
    predict_probabilities,
    window,
)
from ichkit.segment.deepmedic import DeepMedic, flush_subnormals  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PEER_SCRIPT = ROOT / "bench" / "peer_blast_ct.py"
PATCH = 110  # BLAST-CT's test-time input patch; its output is 30^3


@pytest.fixture(scope="module")
def weights_dir(shared_dir) -> Path:
    d = shared_dir / "models" / "blast-ct-v1"
    if not (d / "model_1.pt").exists():
        pytest.skip(f"{d} holds no BLAST-CT weights")
    return d


@pytest.fixture(scope="module")
def net(weights_dir):
    return build_network(load_weights(weights_dir / "model_1.pt"))


PEER_VENV = Path(__file__).resolve().parents[1] / ".venv-peer" / "bin" / "python"


@pytest.fixture(scope="module")
def peer_python() -> str:
    exe = os.environ.get("ICH_PEER_PYTHON") or (str(PEER_VENV) if PEER_VENV.is_file() else None)
    if not exe:
        pytest.skip("the peer's environment is absent: `./setup.sh --test` makes .venv-peer (or set ICH_PEER_PYTHON)")
    if not Path(exe).is_file():
        pytest.skip(f"ICH_PEER_PYTHON={exe} does not exist (bench/peer_env.sh creates it)")
    return exe


def _sums(weights_dir: Path) -> dict[str, str]:
    lines = (weights_dir / "SHA256SUMS").read_text().split("\n")
    return {name: digest for digest, name in (ln.split() for ln in lines if ln.strip())}


def _softmax(net, x: np.ndarray, out_shape=None) -> np.ndarray:
    with torch.inference_mode():
        return torch.softmax(net(torch.from_numpy(x), out_shape), 1).numpy()


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    """Multi-class Dice: voxels where both agree on the same lesion label."""
    fg = (a > 0).sum() + (b > 0).sum()
    return 1.0 if fg == 0 else 2.0 * ((a == b) & (a > 0)).sum() / fg


def _noise(shape, seed=0) -> np.ndarray:
    return np.clip(np.random.default_rng(seed).normal(0.0, 0.6, shape), -1, 1).astype(np.float32)


def test_all_twelve_state_dicts_load_strictly(weights_dir):
    sums = _sums(weights_dir)
    assert len(sums) == 12
    for name, digest in sorted(sums.items()):
        sd = load_weights(weights_dir / name, expected_sha256=digest)
        assert len(sd) == 189 and "path(5, 5, 5)0.path.1.conv.weight" in sd
        net = build_network(sd, name)
        assert sum(p.numel() for p in net.parameters()) == 1_030_033
        assert not net.training


def test_bad_weights_are_model_errors(weights_dir, tmp_path):
    with pytest.raises(ModelError, match="sha256"):
        load_weights(weights_dir / "model_1.pt", expected_sha256="0" * 64)
    with pytest.raises(ModelError, match="not found"):
        load_weights(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(ModelError, match="cannot read"):
        load_weights(tmp_path / "junk.pt")
    sd = load_weights(weights_dir / "model_1.pt")
    sd.pop("fully_connected.2.conv.weight")
    with pytest.raises(ModelError, match="not a BLAST-CT"):
        build_network(sd, "model_1.pt")


def test_large_tile_equals_the_30_voxel_patch_lattice(net):
    """One (30, 30, 60) tile = two 110^3 patches; a tile starting 15 voxels in agrees too."""
    x = _noise((1, 1, PATCH, PATCH, PATCH + 30))
    tile = _softmax(net, x)
    assert tile.shape == (1, 5, 30, 30, 60)
    for off in (0, 30):
        patch = _softmax(net, np.ascontiguousarray(x[..., off : off + PATCH]))
        np.testing.assert_allclose(tile[..., off : off + 30], patch, atol=1e-5)
    shifted = _softmax(net, np.ascontiguousarray(x[..., 15:]), (30, 30, 45))
    np.testing.assert_allclose(shifted, tile[..., 15:], atol=1e-5)


def test_whole_volume_equals_patchwise_with_edge_padding(net):
    """predict_probabilities (tiles + constant background fill) = BLAST-CT's padded 30^3 patches."""
    image = np.full((40, 70, 50), -1.0, np.float32)
    image[5:30, 20:45, 15:35] = _noise((25, 25, 20), seed=1)  # a 'head' surrounded by air
    probs, box = predict_probabilities([net], image, tile_max=30)
    assert box == tuple(slice(0, n) for n in image.shape)
    padded = np.pad(image, [(40, 70)] * 3, mode="edge")
    for z, y, x in np.ndindex(*(n // 30 + 1 for n in image.shape)):
        patch = padded[30 * z : 30 * z + PATCH, 30 * y : 30 * y + PATCH, 30 * x : 30 * x + PATCH]
        ref = _softmax(net, np.ascontiguousarray(patch)[None, None])[0]
        region = tuple(slice(30 * i, min(30 * i + 30, n)) for i, n in zip((z, y, x), image.shape))
        np.testing.assert_allclose(probs[(slice(None), *region)], ref[(slice(None), *(slice(0, r.stop - r.start) for r in region))], atol=1e-5)


def test_model_grid_reorients_exactly_and_spans_blast_ct_extent():
    """Reversed x and y: BLAST-CT's reoriented grid is one voxel off along each (its first row and
    column are padding with the image minimum), then 1 mm along z spans the slice centres."""
    arr = np.arange(4 * 6 * 8, dtype=np.int16).reshape(4, 6, 8)
    ct = Volume(arr, spacing=(1.0, 1.0, 3.0), origin=(10.0, 20.0, 30.0), direction=np.diag([-1.0, -1.0, 1.0]))
    grid = model_grid(ct)
    assert np.allclose(grid.direction, np.eye(3))
    assert grid.shape == (10, 6, 8)  # (4 - 1) * 3 / 1 + 1 slices
    np.testing.assert_allclose(grid.origin, (10.0 - 8, 20.0 - 6, 30.0))
    np.testing.assert_allclose(grid.array[::3, 1:, 1:], arr[:, :0:-1, :0:-1])  # native slices, shifted by one voxel
    assert (grid.array[:, 0, :] == arr.min()).all() and (grid.array[:, :, 0] == arr.min()).all()
    assert window(np.array([-1000.0, -15.0, 42.5, 100.0, 3000.0])).tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]


def test_tiles_where_the_mask_is_equal_the_full_grid_there(net):
    """`where` runs only tiles holding a True voxel: those equal the full grid, the rest of the
    tiles' box keeps the constant background answer, and nothing outside that box is held."""
    image = np.full((60, 75, 60), -1.0, np.float32)
    image[5:55, 10:65, 10:50] = _noise((50, 55, 40), seed=2)
    where = np.zeros(image.shape, bool)
    where[20:28, 30:40, 12:20] = True
    where[40:42, 60:62, 40:42] = True  # a second island: the box spans both, two tiles fill it in part
    full, _ = predict_probabilities([net], image, tile_max=30)
    part, box = predict_probabilities([net], image, tile_max=30, where=where)
    assert box == (slice(15, 42), slice(30, 62), slice(0, 42)) and part.shape == (5, 27, 32, 42)
    np.testing.assert_allclose(part[:, where[box]], full[:, where], atol=1e-5)
    far = part[:, :, :30, 20:]  # in the box, in no tile (y 30-59, x 20-41): one constant answer
    assert np.ptp(far.reshape(5, -1), axis=1).max() == 0 and not np.allclose(full[:, 15:42, 30:60, 20:42], far)


def test_no_skull_falls_back_to_the_whole_grid_and_says_so(weights_dir):
    ph = make_phantom(3, shape=(8, 96, 96), spacing=(2.0, 2.0, 6.0))
    stripped = ph.ct.with_array(np.where(ph.ct.array > 200, 30, ph.ct.array).astype(np.int16))  # bone -> soft tissue
    seg = BlastCTSegmenter([weights_dir / "model_1.pt"])
    with pytest.warns(ICHWarning, match="no skull found"):
        assert seg._support(stripped, model_grid(stripped)) == (None, None)
    mask, where = seg._support(ph.ct, model_grid(ph.ct))
    assert mask.meta["skull_found"] and where.shape == model_grid(ph.ct).shape and where.any()


def test_segmenter_finds_the_phantom_hematoma(weights_dir):
    ph = tilt(make_phantom(3, shape=(12, 128, 128), spacing=(1.5, 1.5, 6.0), brace=True), 15, 0)
    seg = BlastCTSegmenter([weights_dir / "model_1.pt"], keep_probabilities=True)
    res = seg.predict(ph.ct)
    assert res.labels.same_geometry(ph.ct) and res.labels.array.dtype == np.uint8
    assert set(np.unique(res.labels.array)) <= {0, IPH, IVH, EDEMA, EAH}
    assert res.labels.meta["segments"] == {IPH: "IPH", EAH: "EAH", EDEMA: "edema", IVH: "IVH"}
    assert res.probabilities.shape == (5, *ph.ct.shape)
    np.testing.assert_allclose(res.probabilities.sum(0), 1.0, atol=1e-4)
    assert (res.probabilities.argmax(0) == res.labels.array).all()  # channel c is label value c
    assert not res.labels.array[intracranial_mask(ph.ct).array == 0].any()  # nothing outside the skull
    truth, pred = ph.labels.array == IPH, res.labels.array == IPH
    assert 2 * (truth & pred).sum() / (truth.sum() + pred.sum()) > 0.6


# --- against the peer, in its own interpreter -------------------------------------------------


def _run_peer(peer_python: str, *args) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([peer_python, str(PEER_SCRIPT), *map(str, args)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_peer_deepmedic_gives_the_same_probabilities(peer_python, weights_dir, net, tmp_path):
    ph = make_phantom(1, shape=(16, 160, 160), spacing=(1.6, 1.6, 6.0))
    head = window(model_grid(ph.ct).array)
    c = [n // 2 - PATCH // 2 for n in head.shape]
    real = np.pad(head, [(PATCH, PATCH)] * 3, mode="edge")[tuple(slice(PATCH + s, 2 * PATCH + s) for s in c)]
    x = np.concatenate([_noise((1, 1, PATCH, PATCH, PATCH)), real[None, None]])
    np.save(tmp_path / "in.npy", x)
    _run_peer(peer_python, "patch", weights_dir / "model_1.pt", tmp_path / "in.npy", tmp_path / "out.npy")
    np.testing.assert_allclose(_softmax(net, x), np.load(tmp_path / "out.npy"), atol=1e-4)


@pytest.mark.parametrize("tilt_args", [(0, 0, ()), (20, 0, ()), (0, 15, ()), (12, 25, (1,)), (21, 0, (0, 1, 2))])
def test_model_grid_is_the_peers_on_oblique_and_reversed_grids(peer_python, tilt_args, tmp_path):
    """The network input voxel for voxel: gantry tilt about x, head turned about z, axes stored reversed."""
    ph = tilt(make_phantom(1, shape=(10, 96, 96), spacing=(2.0, 2.0, 6.0)), *tilt_args)
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(ph.ct.to_sitk(), str(path))
    _run_peer(peer_python, "grid", path, tmp_path / "grid.npy")
    ours = model_grid(load_ct(path))  # as the peer, from the file (its direction is float32-rounded)
    geometry = json.loads((tmp_path / "grid.npy.json").read_text())
    np.testing.assert_allclose(ours.origin, geometry["origin"], atol=1e-4)
    np.testing.assert_allclose(ours.direction.ravel(), geometry["direction"], atol=1e-6)
    np.testing.assert_array_equal(ours.array, np.load(tmp_path / "grid.npy"))


@pytest.mark.parametrize("tilt_args", [(0, 0, ()), (21, 10, (1,))])
def test_peer_pipeline_gives_the_same_mask(peer_python, weights_dir, tmp_path, tilt_args):
    """The peer's own test-time pipeline (reorient, 1 mm, 30^3 tiles, back to native) against ours,
    axis-aligned and oblique. The peer reads model_1 with its subnormal floats zeroed, as ichkit
    loads it (no output above 1e-30 changes): on the file as shipped its x86 arithmetic on those
    values takes it from ~1 min to over 10 min here."""
    ph = tilt(make_phantom(2, shape=(10, 96, 96), spacing=(2.0, 2.0, 6.0)), *tilt_args)
    sitk.WriteImage(ph.ct.to_sitk(), str(tmp_path / "ct.nii.gz"))
    flushed = tmp_path / "model_1_flushed.pt"
    torch.save(flush_subnormals(torch.load(weights_dir / "model_1.pt", map_location="cpu", weights_only=True)), flushed)
    _run_peer(peer_python, "infer", flushed, "--image", tmp_path / "ct.nii.gz",
              "--out", tmp_path / "peer.nii.gz", "--batch-size", "8")
    peer = np.asarray(PRODUCT_LABEL, np.uint8)[sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "peer.nii.gz"))).astype(int)]
    ours = BlastCTSegmenter([weights_dir / "model_1.pt"]).predict(load_ct(tmp_path / "ct.nii.gz")).labels.array
    assert (peer > 0).sum() > 100  # the comparison is about a real lesion, not empty masks
    for label in (IPH, IVH, EDEMA, EAH):
        if (peer == label).sum() > 50:
            assert _dice(ours == label, peer == label) >= 0.99, label


def test_segment_cli_ensemble_reports_the_members_interval_and_disagreement(ich_cache, weights_dir, tmp_path, capsys):
    from ichkit.cli import main
    from ichkit.models.importer import import_models
    from ichkit.phantom import write_phantom

    import_models(weights_dir)
    files = write_phantom(make_phantom(1, shape=(16, 64, 64), spacing=(1.0, 1.0, 1.0)), tmp_path, "tiny")
    argv = ["segment", str(files["ct"]), "-o", str(tmp_path / "out"), "--device", "cpu", "--no-progress", "--json"]
    assert main([*argv, "--ensemble", "13"]) == 2
    assert capsys.readouterr().err.strip().endswith("--ensemble 13: model blast-ct-v1 has 12 networks (use 1 to 12)")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert main([*argv, "--ensemble", "2"]) == 0
    record = json.loads(capsys.readouterr().out)
    ens = record["ensemble"]
    assert ens["members"] == ["model_1.pt", "model_2.pt"] and record["provenance"]["model"]["id"] == "blast-ct-v1"
    for key, (lo, hi) in ens["interval_ml"].items():
        assert lo <= hi and sorted(ens["member_voxel_ml"][key]) == [lo, hi]
    dis = sitk.GetArrayFromImage(sitk.ReadImage(record["files"]["disagreement"]))
    assert dis.shape == (16, 64, 64) and dis.min() >= 0 and dis.max() <= 1 and set(np.unique(dis)) <= {0.0, 0.5}
