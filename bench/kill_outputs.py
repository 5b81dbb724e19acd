"""Kill test of issue 15 at full size: SIGKILL or SIGTERM at 20 seeded random points during
`ich segment` and `ich run` writes (CI runs 2 of each in Testing/test_output_safety.py).

Usage: PYTHONPATH=. .venv/bin/python bench/kill_outputs.py [--points 20] [--seed 15]
Prints, per command, how many kills landed while a temporary existed (mid-write), what each
left (the old or the new set), and the seconds from start to published outputs of one
uninterrupted run (the same-run baseline that the kill delays are drawn against).
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
            "left": dict(collections.Counter(x["left"] for x in t)),  # mixed: SIGKILL between the final renames
            "exit_codes": dict(collections.Counter(str(x["rc"]) for x in t)),
            "rerun": "finished, no temporary left",
        }
        print(name, json.dumps(report[name]), flush=True)


if __name__ == "__main__":
    main()
