"""Risk panel bench: re-rendering the panel when a clinical input changes must be instant (no read-out).

    PYTHONPATH=. python bench/bench_riskpanel.py [--atlas DIR] [--repeats 200]

Times `ichkit.app.riskpanel.risk_panel` (every section, cards cached after the first call) on the
read-out of one atlas-drawn phantom, against the read-out itself (`run_readout`) in the same run:
the machine is shared, so the ratio is the figure to compare. Goal: one re-render <= 10 ms.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from ichkit.anatomy.atlas import load_atlas
from ichkit.phantom.atlas import HeadDraw, make_atlas_phantom
from ichkit.anatomy.readout import run_readout
from ichkit.app.measurements import measure_dict
from ichkit.app.riskpanel import parse_clinical, risk_panel
from ichkit.models.importer import import_models
from ichkit.report.build import _plain

GOAL_S = 0.010


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atlas", default=str(Path(__file__).resolve().parents[2] / "shared" / "models" / "blast-ct-atlas"))
    p.add_argument("--repeats", type=int, default=200)
    args = p.parse_args()
    os.environ["ICHKIT_CACHE"] = tempfile.mkdtemp(prefix="bench-riskpanel-")
    import_models(Path(args.atlas))
    load_atlas.cache_clear()
    ph = make_atlas_phantom(0, load_atlas(), draw=HeadDraw(matrix=512), ivh=True)
    start = time.perf_counter()
    readout = _plain(run_readout(ph.ct, ph.labels))
    readout_s = time.perf_counter() - start
    measures = measure_dict(ph.labels)
    risk_panel(measures, readout)  # first call reads the model cards
    start = time.perf_counter()
    for i in range(args.repeats):
        risk_panel(measures, readout, parse_clinical({"age": str(60 + i % 40), "gcs": str(3 + i % 13), "onset_hours": "2"}))
    panel_s = (time.perf_counter() - start) / args.repeats
    print(f"read-out {readout_s:.2f} s; panel re-render {1000 * panel_s:.2f} ms (goal <= {1000 * GOAL_S:.0f} ms); "
          f"ratio {readout_s / panel_s:.0f}x")


if __name__ == "__main__":
    main()
