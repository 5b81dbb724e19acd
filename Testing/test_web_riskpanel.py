"""The workstation's risk panel in Debian's chromium (issue 21 item 4): clinical inputs re-score
at once with a bad field named under itself, Read out fills the imaging part of the ICH and BAT
scores and draws the signs' regions and midline lines, and the demo classifiers stay hidden (no
numbers, no heatmap) until "show demo model outputs" is ticked, then carry the demo notice.

One server, one page, the tests in file order (each builds on the last).
"""

from __future__ import annotations

import re
import numpy as np
import pytest

from test_web_e2e import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, DEMO_WARNING, PREDICT_TIMEOUT_MS, UI_TIMEOUT_MS, Server, _free_port
from test_web_reading import _view_rgb

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: install Debian's chromium (apt-get install -y chromium)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright missing: pip install playwright (never `playwright install`)")
expect = playwright.expect

READOUT_TIMEOUT_MS = 180_000  # registration to the atlas on 2 busy cores
MIN_LINE_PIXELS = 100  # a ~150 mm line 1-2 px wide at ~0.6 px/mm, with room for the labels hiding part of it
FORM = {"age": "85", "gcs": "4", "onset-hours": "1.5", "anticoagulant": "none", "recurrent-ich": "no"}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from ichkit.phantom import make_phantom, write_phantom

    folder = tmp_path_factory.mktemp("riskpanel")
    case = write_phantom(make_phantom(0), folder, "base")
    server = Server([str(case["ct"]), "--mask", str(case["labels"]), "--port", str(_free_port())], folder, env={"TMPDIR": str(folder)})
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(server.url)
            page.wait_for_selector("img.image-display-area[src^='blob:']", timeout=UI_TIMEOUT_MS)
            yield page
            browser.close()
    finally:
        server.stop()


def _cyan(rgb: np.ndarray) -> np.ndarray:
    """Pixels of the ideal midline line's colour (0.2, 0.8, 1.0); the CT is grey, IPH red, IVH dark blue."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (r < 120) & (g > 150) & (b > 200)


def _ideal_line_pixels(page) -> int:
    return int(_cyan(_view_rgb(page)).sum())


def _total(page, key: str) -> int:
    """A complete score's total as the page shows it ("ICH score: 4 / 6 (...)")."""
    text = page.locator(f"#score-{key}").inner_text()
    found = re.match(r"[^:]+: (\d+) / \d+", text)
    assert found, text
    return int(found.group(1))


def _fill(page, field: str, value: str) -> None:
    page.fill(f"#clinical-{field}", value)


def test_1_clinical_inputs_rescore_and_name_the_bad_field(page):
    for field, value in FORM.items():
        _fill(page, field, value)
    # no read-out yet: the imaging part is unknown, never guessed
    expect(page.locator("#score-ich_score")).to_contain_text("incomplete")
    expect(page.locator("#score-ich_score")).to_contain_text("infratentorial origin")
    expect(page.locator("#score-bat")).to_contain_text("blend sign")
    _fill(page, "gcs", "16")
    expect(page.locator(".v-input:has(#clinical-gcs)")).to_contain_text("gcs: 16 is not a Glasgow Coma Scale total")
    expect(page.locator("#score-ich_score")).to_contain_text("missing: GCS")  # now unknown, not 0 points
    _fill(page, "gcs", "4")
    expect(page.locator(".v-input:has(#clinical-gcs)")).not_to_contain_text("Glasgow Coma Scale total")


def test_2_read_out_completes_the_scores_and_draws_the_overlays(page):
    before = _view_rgb(page)
    page.click("#readout-btn")
    expect(page.locator("#readout-overlays")).to_be_visible(timeout=READOUT_TIMEOUT_MS)
    expect(page.locator("#status")).to_contain_text(re.compile(r"Read out base_ct in [\d.]+ s"))
    expect(page.locator("#panel-readout")).to_contain_text("Midline shift")
    expect(page.locator("#readout-overlays")).to_contain_text("midline ideal line")
    expect(page.locator("#score-ich_score")).not_to_contain_text("incomplete")
    expect(page.locator("#score-bat")).not_to_contain_text("incomplete")
    ich, bat = _total(page, "ich_score"), _total(page, "bat")
    # each clinical input moves its score by exactly its published points, at once
    _fill(page, "gcs", "13")  # GCS 3-4: 2 points, 13-15: 0
    expect(page.locator("#score-ich_score")).to_contain_text(f": {ich - 2} / 6")
    _fill(page, "age", "79")  # age >= 80: 1 point
    expect(page.locator("#score-ich_score")).to_contain_text(f": {ich - 3} / 6")
    _fill(page, "onset-hours", "3")  # onset to CT < 2.5 h: 2 points
    expect(page.locator("#score-bat")).to_contain_text(f": {bat - 2} / 5")
    for field, value in FORM.items():
        _fill(page, field, value)
    expect(page.locator("#score-ich_score")).to_contain_text(f": {ich} / 6")
    # the midline lines are drawn over the CT, on the slice the shift was measured on (the views go there)
    for _ in range(40):
        if _ideal_line_pixels(page) >= MIN_LINE_PIXELS:
            break
        page.wait_for_timeout(250)
    drawn, plain = _ideal_line_pixels(page), int(_cyan(before).sum())
    assert plain == 0 and drawn >= MIN_LINE_PIXELS, f"ideal midline line not drawn: {drawn} cyan pixels (before the read-out {plain})"
    print(f"\nICH score {ich}, BAT {bat}; {page.locator('#status').inner_text()}; ideal line {drawn} pixels")


def test_3_demo_classifiers_hidden_until_asked_then_marked(page):
    page.click("#predict-btn")
    text = page.locator("#classifier-text-he")
    expect(text).to_contain_text(f"hidden: {DEMO_WARNING}", timeout=PREDICT_TIMEOUT_MS)
    for task in ("he", "ht", "location"):
        expect(page.locator(f"#classifier-text-{task}")).not_to_contain_text("%")  # no probability, no interval
        expect(page.locator(f"#classifier-demo-{task}")).to_have_count(0)
    expect(page.locator("#cam-show")).to_have_count(0)  # their heatmaps are hidden too
    page.check("#show-demo")
    for task in ("he", "ht", "location"):
        expect(page.locator(f"#classifier-text-{task}")).to_contain_text(re.compile(r"\d+ % \(90 % interval \d+-\d+ %\)"))
        expect(page.locator(f"#classifier-demo-{task}")).to_have_text(DEMO_WARNING)
    expect(page.locator("#cam-show")).to_be_visible()
    page.locator("#panel-readout").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "web_risk_panel.png"))  # docs/screenshots/ holds a copy
    expect(page.locator("#classifier-he details")).to_contain_text("model card")
    page.locator("#classifier-he summary").click()
    expect(page.locator("#classifier-he details")).to_contain_text("Training data")
    page.uncheck("#show-demo")
    expect(page.locator("#classifier-text-he")).to_contain_text("hidden")
    expect(page.locator("#cam-show")).to_have_count(0)
