"""The workstation's models in Debian's chromium: an ensemble's volume ranges and disagreement
overlay (issue 19 item 3), and the fine-tuning offer and job after "save as ground truth" (issue 20
item 4), with the fine-tuned model in the model list and named wherever its mask is shown.

BLAST-CT's networks come from /work/shared/models/blast-ct-v1 (skipped without them), imported once
into a private cache. Phantoms are small (8 slices for the ensemble of two; 48 x 48 x 6 voxels per
ground-truth case) and the fine-tuning job is cancelled once its progress shows: a real one takes
too long for a test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_web_e2e import ARTIFACTS, CHROMIUM, UI_TIMEOUT_MS, Server, _free_port, _redness, _wait_redness
import test_web_e2e

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: install Debian's chromium (apt-get install -y chromium)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright missing: pip install playwright (never `playwright install`)")
expect = playwright.expect

browser = test_web_e2e.browser  # the fixture: one chromium for the module
SEGMENT_TIMEOUT_MS = 600_000  # BLAST-CT on 2 busy cores
FINETUNE_PROGRESS_TIMEOUT_MS = 300_000
ENSEMBLE_PHANTOM = {"shape": (8, 128, 128), "spacing": (2.0, 2.0, 5.0)}  # a 256 mm head, 40 mm through the clot: BLAST-CT finds it
MIN_REDNESS = 0.5  # mean R - B change of the view that counts as the overlay drawn (measured: +1.5)
SMALL = {"shape": (6, 48, 48), "spacing": (2.5, 2.5, 5.0)}  # as test_finetune's cases
FT_NAME, FT_ID = "site web", "blast-ct-v1-ft-site-web"


@pytest.fixture(scope="module")
def cache(tmp_path_factory, shared_dir) -> Path:
    import importlib.util

    models = shared_dir / "models" / "blast-ct-v1"
    if importlib.util.find_spec("ichkit.segment.blast_ct") is None or not models.is_dir():
        pytest.skip("no blast-ct engine or model files to import")
    cache = tmp_path_factory.mktemp("models") / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ICHKIT_CACHE": str(cache)}
    subprocess.run([sys.executable, "-m", "ichkit", "models", "import", str(models), "--no-progress"], env=env, check=True, timeout=300)
    return cache


def _open(browser, server):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(server.url)
    page.wait_for_selector("img.image-display-area[src^='blob:']", timeout=UI_TIMEOUT_MS)
    return page


def _choose(page, select_id: str, option) -> None:
    page.click(f".v-select:has(#{select_id}) .v-field")
    page.get_by_role("option", name=option, exact=isinstance(option, str)).click()


@pytest.mark.slow
def test_ensemble_ranges_and_disagreement_overlay(cache, browser, tmp_path):
    from ichkit.phantom import make_phantom, write_phantom

    files = write_phantom(make_phantom(0, **ENSEMBLE_PHANTOM), tmp_path, "clot")
    server = Server([str(files["ct"]), "--port", str(_free_port())], tmp_path, env={"ICHKIT_CACHE": str(cache)})
    try:
        page = _open(browser, server)
        help_text = page.locator("#seg-ensemble-help").get_attribute("title")
        assert "adds roughly the single network's time" in help_text and "N times as long" in help_text
        expect(page.locator(".v-input:has(#seg-ensemble) .v-messages")).to_contain_text("each network adds roughly one network's time")
        expect(page.locator("#interval-IPH")).to_have_count(0)  # no ranges before an ensemble ran
        _choose(page, "seg-ensemble", "2")
        page.click("#segment-btn")
        expect(page.locator("#source")).to_contain_text("model blast-ct-v1 ", timeout=SEGMENT_TIMEOUT_MS)
        expect(page.locator("#status")).to_contain_text("(2 networks)")
        expect(page.locator("#interval-caption")).to_contain_text("each of the 2 networks' own voxel volume")
        ranges = {}
        for region in ("IPH", "IVH"):
            found = re.fullmatch(r"(\d+\.\d\d)-(\d+\.\d\d)", page.locator(f"#interval-{region}").inner_text().strip())
            assert found, page.locator(f"#interval-{region}").inner_text()
            ranges[region] = low, high = float(found.group(1)), float(found.group(2))
            assert 0.0 <= low <= high
        assert page.locator("#interval-hemorrhage").inner_text().strip() == ""  # the labels' ranges only

        _, plain = _redness(page)
        page.check("#disagree-show")
        note = page.locator("#disagree-note")
        expect(note).to_contain_text(re.compile(r"the 2 networks disagree on \d+ voxels \([\d.]+ mL\), most on slice \d+"))
        on = _wait_redness(page, lambda red: red > plain + MIN_REDNESS)  # the map drawn in the ramp's red to yellow
        page.screenshot(path=str(ARTIFACTS / "web_06_ensemble.png"))
        shown = note.inner_text()
        page.uncheck("#disagree-show")
        expect(note).to_have_count(0)
        _wait_redness(page, lambda red: abs(red - plain) < MIN_REDNESS)
        print(f"\nIPH {ranges['IPH']} mL, IVH {ranges['IVH']} mL across 2 networks; {shown}; redness {plain:.1f} -> {on:.1f}")
    finally:
        server.stop()


@pytest.fixture()
def dataset(tmp_path) -> Path:
    """Eight ground-truth cases saved as the workstation saves them (two short of the minimum)."""
    from ichkit.app.groundtruth import save_ground_truth
    from ichkit.phantom import make_phantom

    folder = tmp_path / "Dataset901_Site"
    for i in range(8):
        ph = make_phantom(100 + i, **SMALL)
        save_ground_truth(ph.ct, ph.labels, folder, f"C{i:02d}", patient_id=f"P{i}")
    return folder


def _save_case(page, case_id: str) -> None:
    page.fill("#gt-case", case_id)
    page.click("#gt-btn")
    expect(page.locator("#status")).to_contain_text(f"Saved ground truth {case_id}.nii.gz", timeout=UI_TIMEOUT_MS)


@pytest.mark.slow
def test_finetune_offer_job_cancel_and_the_new_model(cache, dataset, browser, tmp_path, monkeypatch):
    from ichkit.phantom import make_phantom, write_phantom

    case = write_phantom(make_phantom(120, **SMALL), tmp_path, "site")
    server = Server([str(case["ct"]), "--mask", str(case["labels"]), "--port", str(_free_port())], tmp_path, env={"ICHKIT_CACHE": str(cache)})
    try:
        page = _open(browser, server)
        page.fill("#gt-dir", str(dataset))
        _save_case(page, "C08")
        expect(page.locator("#ft-offer")).to_have_text("9 of the 10 cases needed before fine-tuning is offered")
        expect(page.locator("#ft-btn")).to_have_count(0)
        _save_case(page, "C09")
        expect(page.locator("#ft-offer")).to_have_text("10 cases saved: enough to fine-tune blast-ct-v1-single on them")
        expect(page.locator("#ft-name")).to_have_attribute("placeholder", "Site")

        # an existing work folder is refused in one line, before anything starts
        (tmp_path / "finetune-taken").mkdir()
        page.fill("#ft-name", "taken")
        page.click("#ft-btn")
        expect(page.locator("#finetune-error")).to_have_text(re.compile(r"^finetune-taken: already exists .*choose another name or work folder$"))
        expect(page.locator("#ft-progress")).to_have_count(0)

        # beside the dataset under the new name: started, its progress lines shown, then cancelled
        page.fill("#ft-name", FT_NAME)
        page.click("#ft-btn")
        expect(page.locator("#ft-progress")).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(page.locator("#finetune-error")).to_have_count(0)
        expect(page.locator("#status")).to_contain_text(f"Fine-tuning on Dataset901_Site in {tmp_path / 'finetune-site-web'}")
        expect(page.locator("#ft-status")).to_contain_text(re.compile(r"reading C\d\d|held-out loss|ETA"), timeout=FINETUNE_PROGRESS_TIMEOUT_MS)
        shown = page.locator("#ft-status").inner_text()
        page.screenshot(path=str(ARTIFACTS / "web_07_finetune.png"))
        page.click("#ft-cancel-btn")
        expect(page.locator("#status")).to_have_text("Fine-tuning cancelled")
        expect(page.locator("#ft-progress")).to_have_count(0)
        expect(page.locator("#ft-btn")).to_be_enabled()
        assert not (tmp_path / "finetune-site-web" / "model.pt").exists()
        print(f"\nfine-tuning progress shown before Cancel: {shown!r}")

        # a finished job's model (the parent's weights stand in for the training) joins the list,
        # segments, and its name is on every view of the mask: the panel, the CSV, the report
        monkeypatch.setenv("ICHKIT_CACHE", str(cache))
        _register_finetuned(tmp_path, FT_ID)
        _choose(page, "seg-model", re.compile(FT_ID))
        page.click("#segment-btn")
        expect(page.locator("#source")).to_contain_text(f"model {FT_ID} ", timeout=SEGMENT_TIMEOUT_MS)
        expect(page.locator("#demo-warning")).to_have_count(0)
        out = tmp_path / "export"
        page.fill("#export-dir", str(out))
        page.click("#export-btn")
        expect(page.locator("#export-error")).to_have_count(0)
        # this export's list, not the ground-truth save's still on the page
        expect(page.locator("#exported")).to_contain_text("site_ct_volumes.csv", timeout=UI_TIMEOUT_MS)
        assert FT_ID in (out / "site_ct_volumes.csv").read_text() and FT_ID in (out / "site_ct_report.html").read_text()
    finally:
        server.stop()


def _register_finetuned(tmp_path: Path, model_id: str) -> None:
    from ichkit.models import cache as model_cache, load_registry
    from ichkit.segment.training.finetune.register import register_finetuned

    parent = load_registry().get("blast-ct-v1-single")
    weights = tmp_path / "model.pt"
    shutil.copy(model_cache.verified_paths(parent)["model_1.pt"], weights)
    register_finetuned(parent, model_id, weights, "test stand-in", "the parent's weights, standing in for a finished fine-tuning")


def test_a_finished_job_lists_its_model_and_says_what_it_kept(cache, tmp_path, monkeypatch):
    """The job's "done" event (the `ich train finetune --json` result) in the server, without a
    browser: the model list is read again and the panel gives the job's one-line summary."""
    from trame.app import get_server

    from ichkit.web.app import Workstation

    monkeypatch.setenv("ICHKIT_CACHE", str(cache))
    done = "blast-ct-v1-ft-done"
    ws = Workstation(get_server("finetune-done", client_type="vue3"), workdir=tmp_path / "work")
    assert done not in [m["value"] for m in ws.state.seg_models]
    _register_finetuned(tmp_path, done)
    ws.finetuner._on_event("done", {"model_id": done, "best_epoch": 1, "epochs_done": 2, "resumed_from_epoch": None,
                                    "history": [{"epoch": 0, "val_loss": 0.5}, {"epoch": 1, "val_loss": 0.25}, {"epoch": 2, "val_loss": 0.3}]})
    assert done in [m["value"] for m in ws.state.seg_models]
    assert ws.state.ft["text"] == f"fine-tuned {done}: kept epoch 1 of 2, held-out loss 0.5000 -> 0.2500"
    assert ws.session.status == f"Fine-tuned {done}: choose it in the model list to segment with it" and not ws.state.ft["running"]


def test_ensemble_intervals_and_disagreement_note():
    from ichkit.app.segment import EnsembleOutput
    from ichkit.image import Volume
    from ichkit.web.state import volume_rows
    from ichkit.web.uncertainty import disagreement_note, disagreement_window, interval_texts

    ens = EnsembleOutput(3, {"IPH": (1.234, 2.5), "IVH": (0.0, 0.0)}, None)
    rows = {r["region"]: r for r in volume_rows({"IPH": {"voxel_ml": 2.0}}, interval_texts(ens))}
    assert rows["IPH"]["interval"] == "1.23-2.50" and rows["IVH"]["interval"] == "0.00-0.00" and rows["edema"]["interval"] == ""
    window, level = disagreement_window()  # fractions 0 and 1 land on the ramp's red and its top
    assert (0 - (level - window / 2)) / window == pytest.approx(0.35) and (1 - (level - window / 2)) / window == pytest.approx(1.0)
    a = np.zeros((4, 5, 5), np.float32)
    a[2, :2, :3] = 1 / 3
    a[1, 0, 0] = 2 / 3
    note = disagreement_note(Volume(a, (2.0, 2.0, 5.0)), 3)
    assert note == "the 3 networks disagree on 7 voxels (0.14 mL), most on slice 3"
    assert disagreement_note(Volume(np.zeros((2, 2, 2), np.float32), (1.0, 1.0, 1.0)), 2) == "the 2 networks agree on every voxel"
