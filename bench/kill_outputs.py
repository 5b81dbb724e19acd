"""Kill test of issue 15 at full size: SIGKILL or SIGTERM at 20 seeded random points during
`ich segment` and `ich run` writes (CI runs 2 of each in Testing/test_output_safety.py).

Usage: PYTHONPATH=. .venv/bin/python bench/kill_outputs.py [--points 20] [--seed 15]
Prints, per command, how many kills landed while a temporary or a commit journal existed
(mid-write) and how many left a journal pending, what each left on disk right after the kill
(`ich segment`: old, new or mixed; `ich run`: its reports whole or mixed) and once a product
reader had recovered the folder (old or new; `ich run`: per scan, old, new or a resumable mix of
scans), and the seconds from start to published outputs of one uninterrupted run (the same-run
baseline that the kill delays are drawn against).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Testing"))

import kill_outputs  # noqa: E402  (the Testing helper: one definition of a kill trial)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=20)
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    report = {}
    for name, trials in (("segment", kill_outputs.segment_trials), ("run", kill_outputs.run_trials)):
        with tempfile.TemporaryDirectory() as tmp:
            result = trials(Path(tmp), args.points, args.seed)
        t = result["trials"]
        report[name] = {
            "seconds_to_outputs_uninterrupted": round(result["seconds_to_outputs"], 2),
            "points": len(t),
            "killed_while_running": sum(x["killed"] for x in t),
            "killed_mid_write": sum(x["mid_write"] for x in t),
            "by_signal": dict(collections.Counter(x["signal"] for x in t if x["killed"])),
            "by_aim": dict(collections.Counter(x["aim"] for x in t if x["killed"])),
            "journal_pending_after_kill": sum(x["journal_pending"] for x in t),
            "left_on_disk": dict(collections.Counter(x.get("left") if name == "segment" else x["reports_on_disk"] for x in t)),
            "after_recovery": dict(collections.Counter(x.get("after_recovery", x["left"]) for x in t)),  # never mixed
            "exit_codes": dict(collections.Counter(str(x["rc"]) for x in t)),
            "rerun": "finished, no temporary left",
        }
        print(name, json.dumps(report[name]), flush=True)


if __name__ == "__main__":
    main()
