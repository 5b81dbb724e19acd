"""Browser workstation latency: start -> first rendered slice, and paint stroke -> updated volume.

Goals (2-core machine): first slice <= 10 s, edit -> volume <= 1 s. Baseline measured in the
same run: `measure()` on the same full-size mask (what the panel would cost without cropping),
and the bare interpreter + `import ichkit.web.app` time (the floor of any start).
Needs /usr/bin/chromium and playwright (never downloads a browser).
Run: .venv/bin/python bench/bench_web.py
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    from playwright.sync_api import sync_playwright

    from ichkit.io import load_ct, load_mask
    from ichkit.measure import measure
    from ichkit.phantom import make_phantom, write_phantom
    from ichkit.web.state import measure_dict

    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    files = write_phantom(make_phantom(0), tmp, "bench")
    ct = load_ct(files["ct"])
    labels = load_mask(files["labels"], ct)
    measure(labels)  # warm imports
    t = time.perf_counter()
    measure(labels)
    full_measure_s = time.perf_counter() - t
    t = time.perf_counter()
    measure_dict(labels)
    crop_measure_s = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ichkit.web.app"], check=True)
    import_s = time.perf_counter() - t

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "ichkit", "view", str(files["ct"]), "--mask", str(files["labels"]), "--port", str(free_port())],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            url = next(m.group(1) for line in proc.stdout if (m := re.search(r"ICH workstation at (\S+)", line)))
            serving_s = time.perf_counter() - t0
            page.goto(url)
            page.wait_for_selector("img.image-display-area[src^='blob:']", timeout=120_000)
            first_slice_s = time.perf_counter() - t0
            page.wait_for_selector("#voxel-IPH")
            before = page.locator("#voxel-IPH").inner_text()
            page.locator("button:has(i.mdi-brush)").first.click()
            box = page.locator("img.image-display-area").first.bounding_box()
            x0, y0 = box["x"] + box["width"] * 0.40, box["y"] + box["height"] * 0.30
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move(x0 + box["width"] * 0.1, y0, steps=10)
            t1 = time.perf_counter()
            page.mouse.up()
            page.wait_for_function("v => document.querySelector('#voxel-IPH').textContent !== v", arg=before, timeout=60_000)
            edit_s = time.perf_counter() - t1
            server_edit = re.search(r"in ([0-9.]+) s", page.locator("#status").inner_text())
        finally:
            proc.terminate()
            proc.wait(10)
            browser.close()

    print(f"phantom 512x512x32 on this machine (2 cores, shared)")
    print(f"start -> server listening:        {serving_s:6.2f} s  (bare `import ichkit.web.app`: {import_s:.2f} s)")
    print(f"start -> first rendered slice:    {first_slice_s:6.2f} s  (goal <= 10 s)")
    print(f"mouse-up -> panel volume updated: {edit_s:6.2f} s  (goal <= 1 s; server side {server_edit.group(1) if server_edit else '?'} s)")
    print(f"baseline measure(): full scan {full_measure_s:.2f} s, cropped (panel) {crop_measure_s:.2f} s, ratio {full_measure_s / crop_measure_s:.1f}x")


if __name__ == "__main__":
    main()
