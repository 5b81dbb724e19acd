"""The browser workstation as a reader uses it (issue 18), in Debian's chromium: edits stay on the
slice on screen, visibility is not selection, a new case clears the last one, every view renders
on the clot, orientation and HU are readable, every label is measured, errors and warnings are in
the page, uploads work and do not outlive the server.

One server for the module (a 6 mm phantom with all four labels); the tests run in file order on
one page, each leaving the case as it found it unless it is about loading another case.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from test_web_e2e import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS, Server, _free_port, _number, _wait_changed

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: install Debian's chromium (apt-get install -y chromium)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright missing: pip install playwright (never `playwright install`)")
expect = playwright.expect

SHAPE, SPACING = (16, 512, 512), (0.5, 0.5, 6.0)  # 6 mm slices: above the methods' 5 mm rule


def _all_labels(phantom):
    """The phantom's mask with an edema rim around the hematoma and an extra-axial patch."""
    from scipy import ndimage

    from ichkit.labels import EAH, EDEMA, IPH

    a = phantom.labels.array.copy()
    rim = ndimage.binary_dilation(a == IPH, np.ones((1, 7, 7), bool)) & (a == 0)
    a[rim] = EDEMA
    k = int(np.argmax((a == IPH).sum(axis=(1, 2))))
    head = np.argwhere(phantom.ct.array[k] > 20)
    y, x = head.min(axis=0) + 40
    a[k, y:y + 12, 256 - 20:256 + 20] = np.where(a[k, y:y + 12, 236:276] == 0, EAH, a[k, y:y + 12, 236:276])
    return phantom.labels.with_array(a)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    from ichkit.io import save_labelmap, save_volume
    from ichkit.phantom import make_phantom

    folder = tmp_path_factory.mktemp("reading")
    a, b = make_phantom(0, shape=SHAPE, spacing=SPACING), make_phantom(1, shape=SHAPE, spacing=SPACING)
    labels = _all_labels(a)
    paths = {"ct": save_volume(a.ct, folder / "a_ct.nii.gz"), "mask": save_labelmap(labels, folder / "a_labels.nii.gz"),
             "b_ct": save_volume(b.ct, folder / "b_ct.nii.gz"), "b_mask": save_labelmap(b.labels, folder / "b_labels.nii.gz")}
    return folder, paths, labels


@pytest.fixture(scope="module")
def served(case, tmp_path_factory):
    folder, paths, _ = case
    tmp = tmp_path_factory.mktemp("server")
    server = Server([str(paths["ct"]), "--mask", str(paths["mask"]), "--port", str(_free_port())], tmp, env={"TMPDIR": str(tmp)})
    yield server, tmp
    server.stop()


@pytest.fixture(scope="module")
def page(served):
    server, _ = served
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        page.goto(server.url)
        page.wait_for_selector("#mesh-IPH", timeout=UI_TIMEOUT_MS)
        page.wait_for_selector("img.image-display-area[src^='blob:']", timeout=UI_TIMEOUT_MS)
        yield page
        browser.close()


def _view_rgb(page, index: int = 0) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(page.locator("img.image-display-area").nth(index).screenshot())).convert("RGB"), dtype=float)


# the mask twice (NIfTI, .seg.nrrd), its sidecar with the provenance record, the CSV and the report
EXPORTED = ("_seg.nii.gz", ".seg.nrrd", "_volumes.json", "_volumes.csv", "_report.html")


def _export(page, folder: Path) -> np.ndarray:
    from ichkit.io import load_mask

    page.fill("#export-dir", str(folder))
    page.click("#export-btn")
    expect(page.locator("#exported li")).to_have_count(len(EXPORTED), timeout=UI_TIMEOUT_MS)
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("a_ct")) == sorted(f"a_ct{s}" for s in EXPORTED)
    return load_mask(folder / "a_ct_seg.nii.gz").array


def test_1_eraser_edits_only_the_slice_on_screen(page, case, tmp_path):
    _, _, labels = case
    expect(page.locator("#status")).to_have_text("Loaded a_ct")  # not "after edit": nothing was edited
    page.locator("button:has(i.mdi-eraser)").first.click()
    expect(page.locator("#edit-mode")).to_contain_text("2D: only the slice on screen")
    expect(page.locator("#brush-size")).to_contain_text("mm")
    view = page.locator("img.image-display-area").first
    box = view.bounding_box()
    before = _number(page, "#voxel-IPH")
    y = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    for step in range(1, 31):
        page.mouse.move(box["x"] + box["width"] * (0.2 + step * 0.02), y, steps=2)
    page.mouse.up()
    _wait_changed(page, "#voxel-IPH", before)
    changed = np.nonzero((_export(page, tmp_path) != labels.array).any(axis=(1, 2)))[0]
    assert len(changed) == 1, f"one eraser stroke changed slices {changed.tolist()}"
    page.locator("button:has(i.mdi-undo)").first.click()
    _wait_changed(page, "#voxel-IPH", _number(page, "#voxel-IPH"))
    page.fill("#export-dir", "")


def test_2_eye_icon_does_not_select_the_segment(page):
    editing = page.locator("#editing-segment")
    expect(editing).to_contain_text("IPH")
    status = page.locator("#status").inner_text()
    eah = page.get_by_role("option", name=re.compile(r"\bEAH\b"))
    eah.locator("i.mdi-eye-outline").click()
    expect(eah.locator("i.mdi-eye-off-outline")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(editing).to_contain_text("IPH")
    eah.locator("i.mdi-eye-off-outline").click()
    expect(eah.locator("i.mdi-eye-outline")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(editing).to_contain_text("IPH")
    expect(page.locator("#status")).to_have_text(status)  # showing and hiding is not an edit


def test_5_orientation_slice_number_hu_and_window(page, case):
    _, _, labels = case
    view = page.locator(".ich-slice-overlay").first
    for side, letter in (("left", "R"), ("right", "L"), ("top", "A"), ("bottom", "P")):
        expect(view.locator(f".orient-{side}")).to_have_text(letter)
    k = int(np.argmax((labels.array == 1).sum(axis=(1, 2))))
    expect(view.locator(".slice-number")).to_have_text(f"slice {k + 1} / {SHAPE[0]}")
    box = page.locator("img.image-display-area").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(view.locator(".hu-readout")).to_contain_text("HU", timeout=UI_TIMEOUT_MS)
    assert "mm" not in view.inner_text()
    page.screenshot(path=str(ARTIFACTS / "web_reading_initial.png"))
    brain = _view_rgb(page).mean()
    page.click(".v-select:has(#window-preset) .v-field")
    page.get_by_role("option", name="bone").click()
    expect(page.locator("#window-level")).to_have_value("600")
    expect(page.locator("#window-width")).to_have_value("2800")
    for _ in range(50):  # the frame streams in after the window changed: bone window darkens the brain
        if _view_rgb(page).mean() < brain - 10:
            break
        page.wait_for_timeout(200)
    assert _view_rgb(page).mean() < brain - 10
    page.click(".v-select:has(#window-preset) .v-field")
    page.get_by_role("option", name="brain").click()
    expect(page.locator("#window-level")).to_have_value("40")


def test_6_volume_table_has_every_label_and_the_total(page, case):
    from ichkit.measure import measure

    _, _, labels = case
    truth = measure(labels).to_dict()
    for key in ("IPH", "IVH", "edema", "EAH", "hemorrhage"):
        expect(page.locator(f"#row-{key}")).to_be_visible()
        assert _number(page, f"#voxel-{key}") == pytest.approx(truth[key]["voxel_ml"], abs=0.01), key
    expect(page.locator("#row-hemorrhage")).to_contain_text("total")
    page.locator("#volumes").screenshot(path=str(ARTIFACTS / "web_volume_table.png"))


def test_7_warnings_and_errors_in_the_page(page, tmp_path):
    expect(page.locator("#warnings")).to_contain_text("slice thickness 6 mm exceeds 5 mm")
    page.fill("#export-dir", str(tmp_path))
    page.click("#export-btn")
    expect(page.locator("#exported li")).to_have_count(len(EXPORTED), timeout=UI_TIMEOUT_MS)
    page.click("#export-btn")  # the same files again, no overwrite: refused, and the old list goes
    expect(page.locator("#export-error")).to_contain_text("replace existing files", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#export-error")).not_to_contain_text("--overwrite")
    expect(page.locator("#exported li")).to_have_count(0)
    page.fill("#export-dir", "")
    saved = page.input_value("#ct-path")
    page.fill("#ct-path", "")
    page.click("#load-btn")
    expect(page.locator("#load-error")).to_contain_text("path", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#case-name")).to_have_text("a_ct")
    page.fill("#ct-path", saved)


def _red_centre(rgb: np.ndarray) -> tuple[float, float] | None:
    """Where the hematoma's red overlay lies in a frame, as fractions of its width and height."""
    red = (rgb[..., 0] - rgb[..., 2] > 60) & (rgb[..., 0] - rgb[..., 1] > 60)
    if red.sum() < 20:
        return None
    ys, xs = np.nonzero(red)
    return xs.mean() / rgb.shape[1], ys.mean() / rgb.shape[0]


def test_4_three_views_render_centred_on_the_clot(page):
    page.click(".v-select:has(#layout) .v-field")
    page.get_by_role("option", name="Axial + coronal + sagittal").click()
    views = page.locator("img.image-display-area")
    expect(views).to_have_count(3, timeout=UI_TIMEOUT_MS)
    for i in range(3):
        page.wait_for_function("(i) => { const e = document.querySelectorAll('img.image-display-area')[i]; return e && e.src.startsWith('blob:'); }",
                               arg=i, timeout=UI_TIMEOUT_MS)
    centres = []
    for i in range(3):
        for _ in range(50):  # the frames stream in after the layout changed
            rgb = _view_rgb(page, i)
            centre = _red_centre(rgb)
            if rgb.mean() > 10 and centre is not None and abs(centre[0] - 0.5) < 0.2 and abs(centre[1] - 0.5) < 0.2:
                break
            page.wait_for_timeout(200)
        centres.append(centre)
        assert rgb.mean() > 10, f"view {i} is black"
        assert centre is not None and abs(centre[0] - 0.5) < 0.2 and abs(centre[1] - 0.5) < 0.2, f"view {i}: clot at {centre}"
    page.screenshot(path=str(ARTIFACTS / "web_three_views.png"))
    page.click(".v-select:has(#layout) .v-field")
    page.get_by_role("option", name="Axial", exact=True).click()
    expect(views).to_have_count(1, timeout=UI_TIMEOUT_MS)


def test_10_tools_turn_an_ai_mask_into_the_truth(page, case, tmp_path):
    """An AI mask missing the hematoma's largest slice, with a stray island: remove islands, fill
    between slices, then one click grows the hematoma (within 50-100 HU, other labels untouched):
    Dice >= 0.95."""
    from ichkit.io import save_labelmap
    from ichkit.labels import IPH

    _, _, labels = case
    truth = labels.array == IPH
    ai = labels.array.copy()
    k = int(np.argmax(truth.sum(axis=(1, 2))))
    ai[k][ai[k] == IPH] = 0
    ai[k, 100:102, 100:102] = IPH  # 0.006 mL, far from the clot
    start = 2 * ((ai == IPH) & truth).sum() / ((ai == IPH).sum() + truth.sum())
    page.set_input_files("#mask-upload", str(save_labelmap(labels.with_array(ai), tmp_path / "ai_mask.nii.gz")))
    expect(page.locator("#source")).to_contain_text("ai_mask.nii.gz", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#editing-segment")).to_contain_text("IPH")
    page.click("#islands-btn")
    expect(page.locator("#status")).to_contain_text("Removed small islands (measured in", timeout=UI_TIMEOUT_MS)
    before = _number(page, "#voxel-IPH")
    page.click("#fill-btn")  # the missed slice gets the shape between its neighbours'
    expect(page.locator("#status")).to_contain_text("Filled the slices between drawn ones (measured in", timeout=UI_TIMEOUT_MS)
    before = _wait_changed(page, "#voxel-IPH", before)
    page.click("#grow-btn")
    expect(page.locator("#grow-btn")).to_contain_text("click inside the clot")
    box = page.locator("img.image-display-area").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator("#status")).to_contain_text("Grew the segment", timeout=UI_TIMEOUT_MS)
    assert _wait_changed(page, "#voxel-IPH", before) > before
    iph = _export(page, tmp_path / "out") == IPH
    dice = 2 * (iph & truth).sum() / (iph.sum() + truth.sum())
    assert dice >= 0.95, f"Dice {dice:.3f} after islands, fill and one grow click (AI mask: {start:.3f})"
    print(f"IPH Dice: AI mask {start:.3f}, after three clicks {dice:.3f}")
    page.fill("#export-dir", "")


def test_3_a_new_ct_clears_the_last_case(page, case):
    _, paths, _ = case
    page.fill("#gt-case", "a_ct")
    page.fill("#followup-path", str(paths["ct"]))
    page.fill("#ct-path", str(paths["b_ct"]))
    expect(page.locator("#mask-path")).to_have_value("")  # the last case's mask is not offered for this CT
    page.click("#load-btn")
    expect(page.locator("#case-name")).to_have_text("b_ct", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#mask-path")).to_have_value("")
    expect(page.locator("#gt-case")).to_have_value("b_ct")
    expect(page.locator("#followup-path")).to_have_value("")
    expect(page.locator("#exported li")).to_have_count(0)
    expect(page.locator("#warnings")).to_contain_text("slice thickness")  # b's own warning, not a's
    expect(page.locator("#export-btn")).to_be_disabled()  # no mask
    # the same grid, but the mask named for the old case is never attached implicitly
    page.fill("#ct-path", str(paths["ct"]))
    page.click("#load-btn")
    expect(page.locator("#case-name")).to_have_text("a_ct", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#export-btn")).to_be_disabled()
    page.click(".v-select:has(#window-preset) .v-field")  # a round trip through the server: a
    page.get_by_role("option", name="bone").click()  # re-measure queued by the load has arrived
    expect(page.locator("#window-level")).to_have_value("600", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#status")).to_have_text("Loaded a_ct")  # not "after edit": nothing was edited


def _dicom_zip(folder: Path) -> Path:
    from dicom_factory import head_like, write_series

    series = write_series(folder / "series", head_like((8, 64, 64)), spacing=(0.8, 0.8, 5.0))
    target = folder / "dcm_series.zip"
    with zipfile.ZipFile(target, "w") as z:
        for f in sorted(series.iterdir()):
            z.write(f, f"series/{f.name}")
    return target


def test_9_uploads_dicom_zip_files_and_mask_then_deleted(page, case, served, tmp_path):
    server, tmp = served
    _, paths, _ = case
    page.set_input_files("#upload", str(_dicom_zip(tmp_path)))
    expect(page.locator("#case-name")).to_have_text("dcm_series", timeout=UI_TIMEOUT_MS)
    expect(page.locator(".ich-slice-overlay .slice-number").first).to_contain_text("/ 8")
    page.set_input_files("#upload", sorted(str(p) for p in (tmp_path / "series").iterdir()))
    expect(page.locator("#case-name")).not_to_have_text("dcm_series", timeout=UI_TIMEOUT_MS)
    expect(page.locator(".ich-slice-overlay .slice-number").first).to_contain_text("/ 8")
    page.set_input_files("#upload", str(paths["b_ct"]))
    expect(page.locator("#case-name")).to_have_text("b_ct", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#export-btn")).to_be_disabled()
    page.set_input_files("#mask-upload", str(paths["b_mask"]))
    expect(page.locator("#source")).to_contain_text("b_labels.nii.gz", timeout=UI_TIMEOUT_MS)
    assert _number(page, "#voxel-IPH") > 0
    uploads = list(tmp.glob("ichkit-web-*/uploads/*"))
    assert uploads, "no uploaded copies found under the server's TMPDIR"
    server.stop()
    assert not any(p.exists() for p in uploads), "uploaded copies outlived the server"
