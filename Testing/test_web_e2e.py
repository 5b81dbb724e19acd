"""End-to-end tests of the browser workstation (`ich view`) with Playwright and Debian's chromium.

The phantom's ground-truth mask stands in for the model's output (`--mask`), which keeps the run
well under two minutes on 2 cores; the Segment button's child process is covered by
test_web_state (job parsing) and by `ich segment`'s own tests. The risk panel runs the real
`ich predict` child with the shipped demo classifiers. Every wait is on page state (DOM text, a
new frame of the view), never a fixed sleep. Screenshots land in Testing/artifacts/ (gitignored).
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"
START_TIMEOUT_S = 120
UI_TIMEOUT_MS = 60_000
PREDICT_TIMEOUT_MS = 300_000  # three demo classifiers on 2 busy cores
DEMO_WARNING = "demo model, not for clinical use"
FRAMES_CHECKED = 20
MIN_REDNESS = 1.5  # mean R - B change that counts as the overlay changing (the plain view has ~2.6)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: install Debian's chromium (apt-get install -y chromium)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright missing: pip install playwright (never `playwright install`)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`ich view ...` in a child process; `url` once it printed its address."""

    def __init__(self, args: list[str], tmp: Path, env: dict[str, str] | None = None):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "ICHKIT_CACHE": str(tmp / "cache"), **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "ichkit", "view", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.url = ""
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(START_TIMEOUT_S) or not self.url:
            self.stop()
            pytest.fail("ich view did not start:\n" + "".join(self.lines[-30:]))

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            found = re.search(r"ICH workstation at (\S+)", line)
            if found:
                self.url = found.group(1)
                self.ready.set()
        self.ready.set()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    from ichkit.phantom import make_phantom, write_phantom

    folder = tmp_path_factory.mktemp("web")
    base = write_phantom(make_phantom(0), folder, "base")
    follow = write_phantom(make_phantom(1), folder, "follow")
    return folder, base, follow


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _number(page, selector: str) -> float:
    return float(page.locator(selector).inner_text())


def _wait_changed(page, selector: str, old: float) -> float:
    page.wait_for_function("([s, v]) => { const e = document.querySelector(s); return e && parseFloat(e.textContent) !== v; }",
                           arg=[selector, old], timeout=UI_TIMEOUT_MS)
    return _number(page, selector)


def _frame(page):
    """The first slice view's frame as float RGB."""
    import numpy as np
    from PIL import Image

    view = page.locator("img.image-display-area").first
    return np.asarray(Image.open(io.BytesIO(view.screenshot())).convert("RGB"), dtype=float)


def _redness(page) -> tuple[str, float]:
    """The first slice view's frame (blob URL) and its mean red excess (R - B, grey levels): the
    grey CT has none, the Grad-CAM ramp (black-red-yellow) adds it with its opacity."""
    import numpy as np

    src = page.locator("img.image-display-area").first.get_attribute("src")
    rgb = _frame(page)
    return src, float(np.clip(rgb[..., 0] - rgb[..., 2], 0, None).mean())


def _settled_frame(page, quiet_ms: int = 600):
    """The slice view's frame once its image has not changed for `quiet_ms`: the stream sends quick,
    lower-quality frames before the still one, and their compression ringing reads as dark pixels."""
    view = page.locator("img.image-display-area").first
    for _ in range(FRAMES_CHECKED):
        src = view.get_attribute("src")
        page.wait_for_timeout(quiet_ms)
        if view.get_attribute("src") == src:
            return _frame(page)
    pytest.fail(f"the view kept changing for {FRAMES_CHECKED} x {quiet_ms} ms")


def _dark_share(plain, overlay) -> float:
    """Share of the pixels the opaque overlay changes that it paints darker than the ramp's colour
    at the lowest heat drawn (dark red, R 117): low heat drawn in the ramp's dark end dims the CT."""
    import numpy as np

    changed = np.abs(overlay - plain).max(axis=2) > 25
    return float((changed & (overlay[..., 0] < 100)).sum() / max(int(changed.sum()), 1))


def _wait_redness(page, accept) -> float:
    """The redness of the first frame that `accept`s it: frames of earlier renders (and of lower
    quality while the view streams) may come first, so each new frame is checked in turn."""
    for _ in range(FRAMES_CHECKED):
        src, red = _redness(page)
        if accept(red):
            return red
        page.wait_for_function("(old) => { const e = document.querySelector('img.image-display-area'); return e && e.src !== old; }",
                               arg=src, timeout=UI_TIMEOUT_MS)
    pytest.fail(f"the view did not change as expected in {FRAMES_CHECKED} frames (redness {red:.2f})")


def test_workstation_load_edit_undo_export(phantoms, browser, tmp_path):
    folder, base, follow = phantoms
    ARTIFACTS.mkdir(exist_ok=True)
    server = Server([str(base["ct"]), "--mask", str(base["labels"]), "--followup", str(follow["ct"]),
                     "--followup-mask", str(follow["labels"]), "--port", str(_free_port())], tmp_path)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server.url)
        # the CT, the mask and the panel: volumes of the ground truth, the HE verdict
        page.wait_for_selector("#mesh-IPH", timeout=UI_TIMEOUT_MS)
        page.wait_for_selector("img.image-display-area[src^='blob:']", timeout=UI_TIMEOUT_MS)
        expect = playwright.expect
        expect(page.locator("#case-name")).to_have_text("base_ct")
        iph_voxel = _number(page, "#voxel-IPH")
        truth = __import__("json").loads(base["json"].read_text())["volumes_ml"]["IPH"]
        assert iph_voxel == pytest.approx(truth, abs=0.01)
        expect(page.locator("#verdict")).to_contain_text("expansion")
        page.screenshot(path=str(ARTIFACTS / "web_01_loaded.png"))

        # paint a stroke next to the hematoma with the Segment Editor's brush: IPH grows
        page.locator("button:has(i.mdi-brush)").first.click()
        view = page.locator("img.image-display-area").first
        box = view.bounding_box()
        x0, y0 = box["x"] + box["width"] * 0.40, box["y"] + box["height"] * 0.30
        page.mouse.move(x0, y0)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(x0 + step * box["width"] * 0.01, y0, steps=2)
        page.mouse.up()
        painted = _wait_changed(page, "#voxel-IPH", iph_voxel)
        assert painted > iph_voxel
        expect(page.locator("#edited")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "web_02_painted.png"))

        # undo: back to the ground truth exactly
        page.locator("button:has(i.mdi-undo)").first.click()
        assert _wait_changed(page, "#voxel-IPH", painted) == pytest.approx(iph_voxel, abs=0.005)
        expect(page.locator("#edited")).to_have_count(0)

        # export: ich segment's names (.seg.nrrd, NIfTI, the volumes.json record), CSV and the HTML report
        out = tmp_path / "export"
        page.fill("#export-dir", str(out))
        page.click("#export-btn")
        expect(page.locator("#exported li")).to_have_count(5, timeout=UI_TIMEOUT_MS)
        for name in ("base_ct.seg.nrrd", "base_ct_seg.nii.gz", "base_ct_volumes.json", "base_ct_volumes.csv", "base_ct_report.html"):
            assert (out / name).stat().st_size > 0, name
        report = (out / "base_ct_report.html").read_text()
        assert "data:image/png;base64," in report and "mask file base_labels.nii.gz" in report

        # ground truth in the nnU-Net layout with provenance
        gt = tmp_path / "Dataset900_ICH"
        page.fill("#gt-dir", str(gt))
        page.fill("#gt-case", "ICH_001")
        page.click("#gt-btn")
        expect(page.locator("#status")).to_contain_text("Saved ground truth", timeout=UI_TIMEOUT_MS)
        assert (gt / "imagesTr" / "ICH_001_0000.nii.gz").exists() and (gt / "labelsTr" / "ICH_001.nii.gz").exists()
        assert '"edited": false' in (gt / "provenance" / "ICH_001.json").read_text()
        page.screenshot(path=str(ARTIFACTS / "web_03_exported.png"), full_page=True)
    finally:
        server.stop()


def test_remote_host_requires_token(phantoms, tmp_path):
    folder, base, _ = phantoms
    refused = subprocess.run([sys.executable, "-m", "ichkit", "view", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--allow-remote" in refused.stderr
    port = _free_port()
    server = Server(["--host", "0.0.0.0", "--allow-remote", "--port", str(port)], tmp_path)
    try:
        token = server.url.split("token=")[1]
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10)
        assert denied.value.code == 403
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html?token={token}", timeout=10) as ok:
            assert ok.status == 200 and "ichkit_token" in ok.headers.get("Set-Cookie", "")
        assert any("warning" in line for line in server.lines)
    finally:
        server.stop()


@pytest.mark.slow
def test_segment_button_runs_the_model(browser, tmp_path):
    """Segment in the child process with blast-ct-v1-single imported from /work/shared (skipped without it)."""
    import importlib.util

    models = Path("/work/shared/models/blast-ct-v1")
    if importlib.util.find_spec("ichkit.segment.blast_ct") is None or not models.is_dir():
        pytest.skip("no blast-ct engine or model files to import")
    from ichkit.phantom import make_phantom, write_phantom

    files = write_phantom(make_phantom(0, shape=(16, 256, 256), spacing=(1.0, 1.0, 5.0)), tmp_path, "small")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ICHKIT_CACHE": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-m", "ichkit", "models", "import", str(models), "--no-progress"], env=env, check=True, timeout=120)
    server = Server([str(files["ct"]), "--port", str(_free_port())], tmp_path)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server.url)
        page.wait_for_selector("img.image-display-area[src^='blob:']", timeout=UI_TIMEOUT_MS)
        page.click("#segment-btn")
        playwright.expect(page.locator("#seg-progress")).to_be_visible(timeout=UI_TIMEOUT_MS)
        playwright.expect(page.locator("#source")).to_contain_text("blast-ct-v1-single", timeout=600_000)
        assert _number(page, "#mesh-IPH") > 0
        page.screenshot(path=str(ARTIFACTS / "web_04_segmented.png"))
    finally:
        server.stop()


def test_risk_panel_and_gradcam_overlay(phantoms, browser, tmp_path):
    """Predict on the sample: the demo classifiers hidden, then (ticked) three probabilities with
    intervals and the demo warning, the HE verdict beside the HE risk, then the Grad-CAM overlay: shown, more opaque, another task's heatmap."""
    folder, base, follow = phantoms
    ARTIFACTS.mkdir(exist_ok=True)
    server = Server([str(base["ct"]), "--mask", str(base["labels"]), "--followup", str(follow["ct"]),
                     "--followup-mask", str(follow["labels"]), "--port", str(_free_port())], tmp_path)
    expect = playwright.expect
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server.url)
        page.wait_for_selector("img.image-display-area[src^='blob:']", timeout=UI_TIMEOUT_MS)
        expect(page.locator("#followup")).to_contain_text("follow_ct")

        page.click("#predict-btn")
        expect(page.locator("#classifier-text-he")).to_contain_text("hidden", timeout=PREDICT_TIMEOUT_MS)  # demo models: hidden until asked
        page.check("#show-demo")
        for task in ("he", "ht", "location"):
            expect(page.locator(f"#classifier-demo-{task}")).to_have_text(DEMO_WARNING)
            found = re.search(r"(\d+) % \(90 % interval (\d+)-(\d+) %\), (.+?) - ", page.locator(f"#classifier-text-{task}").inner_text())
            assert found, page.locator(f"#classifier-text-{task}").inner_text()
            p, low, high = (float(v) for v in found.groups()[:3])
            assert 0.0 <= low <= high <= 100.0 and 0.0 <= p <= 100.0 and found.group(4).strip()
        expect(page.locator("#classifier-text-location")).to_contain_text("heatmap trained toward the hematoma")  # the guided demo model
        expect(page.locator("#classifier-text-he")).not_to_contain_text("heatmap trained")
        expect(page.locator("#risk-he-observed")).to_contain_text("expansion")
        status = page.locator("#status").inner_text()
        assert re.search(r"Predicted base_ct in [\d.]+ s", status), status
        print(f"\n{status} (server-side, click to panel filled)")

        # the overlay: on (the frame changes where the heatmap is), then fully opaque
        _, plain = _redness(page)
        plain_rgb = _settled_frame(page)
        page.check("#cam-show")
        half = _wait_redness(page, lambda red: red > plain + MIN_REDNESS)
        expect(page.locator("#cam-colorbar")).to_be_visible()
        expect(page.locator("#cam-note")).to_contain_text(re.compile(r"(heat on this slice|no heat on slice \d+): heat on slices? \d|heat on this slice \(heat on slices? \d"))
        thumb = page.locator("#cam-opacity [role=slider]")
        thumb.focus()
        page.keyboard.press("End")
        expect(thumb).to_have_attribute("aria-valuenow", "1")
        full = _wait_redness(page, lambda red: red > half + MIN_REDNESS)
        dark = _dark_share(plain_rgb, _settled_frame(page))
        assert dark < 0.02, f"{100 * dark:.1f} % of the overlay is darker than its lowest drawn heat (low heat drawn)"
        page.screenshot(path=str(ARTIFACTS / "web_05_risk_gradcam.png"))

        # another task's heatmap (another region), then off again: back to the plain CT
        page.click(".v-select:has(#cam-task) .v-field")
        page.get_by_role("option", name="Hemorrhagic transformation").click()
        _wait_redness(page, lambda red: abs(red - full) > MIN_REDNESS)
        page.uncheck("#cam-show")
        _wait_redness(page, lambda red: abs(red - plain) < MIN_REDNESS)
        print(f"redness: plain {plain:.1f}, overlay at 0.5 {half:.1f}, at 1.0 {full:.1f}; dark share at 1.0 {dark:.3f}")
    finally:
        server.stop()
