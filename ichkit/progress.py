"""Progress reporting: long functions take a `progress(done, total, what)` callback.

The CLI turns it into a tqdm bar, background processes into structured JSON lines on stdout
(read by the Slicer module and the web app).
"""

from __future__ import annotations

import json
import sys
from typing import Callable, Protocol


class Progress(Protocol):
    def __call__(self, done: int, total: int, what: str = "") -> None: ...


def silent(done: int, total: int, what: str = "") -> None:
    """The default callback: report nothing."""


def json_lines(stream=sys.stdout) -> Progress:
    """Structured progress lines `{"progress": f, "done": d, "total": t, "what": w}`."""

    def report(done: int, total: int, what: str = "") -> None:
        frac = done / total if total else 0.0
        stream.write(json.dumps({"progress": round(frac, 4), "done": done, "total": total, "what": what}) + "\n")
        stream.flush()

    return report


_JSON_LINES = {"on": False}  # set once by `ich --progress-json` for the whole command


def use_json_lines() -> None:
    """Make every CLI progress bar a JSON-lines reporter on stdout (background jobs parse them)."""
    _JSON_LINES["on"] = True


def tqdm_bar(desc: str, enabled: bool = True) -> tuple[Progress, Callable[[], None]]:
    """A tqdm-backed callback plus a `close()`; disabled bars cost nothing.

    Under `ich --progress-json` it is a `json_lines` reporter instead, even when the command
    hides bars (--json, --no-progress): the job runner needs the progress, not a terminal bar.
    """
    if _JSON_LINES["on"]:
        return json_lines(sys.stdout), lambda: None
    if not enabled:
        return silent, lambda: None
    # deferred: tqdm loads only when a bar is drawn (keeps `ich --help` fast)
    from tqdm import tqdm

    bar = tqdm(total=0, desc=desc, unit="step", file=sys.stderr, leave=False)

    def report(done: int, total: int, what: str = "") -> None:
        bar.total = total
        bar.n = done
        if what:
            bar.set_postfix_str(what, refresh=False)
        bar.refresh()

    return report, bar.close
