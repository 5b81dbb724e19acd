"""The HTML report: the key slice (largest hemorrhage area) with the mask overlaid, the volumes,
the verdict and the model that produced the mask; one self-contained file (images inlined).
"""

from __future__ import annotations

import html
import time

from .. import __version__
from ..anatomy.text import slice_text
from ..measure import TOTAL_KEY
from ..app.measurements import verdict_text
from ..models.registry import DEMO_NOTICE
from ..report.images import BRAIN_WINDOW, overlay_rgb, png_base64
from .state import PANEL_VOLUMES, Scan


def key_slice(scan: Scan) -> int:
    """The max-area slice of the hemorrhage (as measured), else the middle slice."""
    region = scan.measurements.get(TOTAL_KEY) or next(iter(scan.measurements.values()), None)
    return int(region["max_area_slice"]) if region else scan.ct.shape[0] // 2


def report_html(scan: Scan, verdict: dict | None = None) -> str:
    index = key_slice(scan)
    image = png_base64(overlay_rgb(scan.ct.array[index], scan.labels.array[index]))
    rows = "".join(
        f"<tr><td>{html.escape(region)}</td>" + "".join(f"<td>{m[v]:.2f}</td>" for v in PANEL_VOLUMES) + "</tr>"
        for region, m in scan.measurements.items()
    )
    source = scan.source.text() if scan.source else "unknown"
    warning = f'<p class="warn">{DEMO_NOTICE.capitalize()}.</p>' if scan.source and scan.source.demo else ""
    verdict_line = f"<p>Expansion: {html.escape(verdict_text(verdict))}</p>" if verdict else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ICH report {html.escape(scan.name)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} td,th{{padding:.2em .8em;text-align:right}}
td:first-child,th:first-child{{text-align:left}} .warn{{color:#b00;font-weight:bold}}</style></head>
<body><h1>ICH report: {html.escape(scan.name)}</h1>
{warning}<p>Mask: {html.escape(source)}{' (edited by a reader)' if scan.edited else ''}. CT: {html.escape(str(scan.path))}.</p>
<table><tr><th>Region</th><th>Mesh (mL)</th><th>Voxel (mL)</th><th>ABC/2, main hematoma (mL)</th></tr>{rows}</table>
{verdict_line}
<figure><img alt="{slice_text(index)} with the mask overlaid" src="data:image/png;base64,{image}">
<figcaption>Axial {slice_text(index)} (largest hemorrhage area), window L{BRAIN_WINDOW[0]:g} W{BRAIN_WINDOW[1]:g}.</figcaption></figure>
<p><small>ichkit {__version__}, {time.strftime('%Y-%m-%d %H:%M')}. Research software.</small></p>
</body></html>
"""
