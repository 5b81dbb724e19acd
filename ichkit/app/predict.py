"""A prediction job (`ich predict`) from request to the rows the risk panels show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..classify.tasks import TASKS as _TASKS
from ..errors import OptionError
from .jobs import ich_argv
from .segment import DEVICES

TASKS = tuple(_TASKS)  # he, ht, location: the order every panel lists them in
TASK_TITLES = {name: task.title for name, task in _TASKS.items()}


@dataclass(frozen=True)
class PredictRequest:
    """What a front end asks of `ich predict`; `argv()` is the one place its command line is built."""

    ct: Path
    outdir: Path
    mask: Path | None = None  # HE needs it; HT and location read the CT alone
    task: str = "all"
    device: str | None = None
    overwrite: bool = False
    python: str | None = None

    def __post_init__(self):
        if self.task not in (*TASKS, "all"):
            raise OptionError(None, f"task {self.task!r}: choose one of {', '.join(TASKS)} or all")
        if self.device not in (None, *DEVICES):
            raise OptionError(None, f"device {self.device!r}: choose one of {', '.join(DEVICES)}")
        if self.task == "he" and self.mask is None:
            raise OptionError(None, "hematoma expansion needs a mask")

    def argv(self) -> list[str]:
        argv = ich_argv("predict", self.ct, "--task", self.task, "-o", self.outdir, "--json", python=self.python)
        return (argv + (["--mask", str(self.mask)] if self.mask else []) + (["--overwrite"] if self.overwrite else [])
                + (["--device", self.device] if self.device else []))


def risk_rows(result: dict, errors: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per task: probability, 90 % interval, class, model, demo flag and warning, whether
    its heatmap was trained (`cam_guided`); or why there is no result."""
    errors = errors or {}
    results = result.get("results", {})
    rows = []
    for task in TASKS:
        row = {"task": task, "title": TASK_TITLES[task], "error": errors.get(task, "")}
        r = results.get(task)
        if r is not None:
            low, high = r["interval"]
            row.update(probability=float(r["probability"]), low=float(low), high=float(high), label=str(r.get("class", "")),
                       model=str(r.get("model", "")), demo=bool(r.get("demo", False)), warning=str(r.get("warning", "")),
                       heatmap=bool(r.get("heatmap")), cam_guided=bool(r.get("cam_guided")))
        elif not row["error"]:
            row["error"] = "no result"
        rows.append(row)
    return rows


def heatmap_paths(result: dict) -> dict[str, Path]:
    """Task -> its Grad-CAM NIfTI on the CT grid, in the command's output folder (none with --no-cam)."""
    folder = Path(result.get("output", "."))
    return {task: folder / r["heatmap"] for task, r in result.get("results", {}).items() if r.get("heatmap")}
