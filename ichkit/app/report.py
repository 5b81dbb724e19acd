"""A report job (`ich report`): the request every front end (and `ich report` itself) validates
once, and its command line for a background job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError
from ..scores import Clinical
from .jobs import ich_argv


@dataclass(frozen=True)
class ReportRequest:
    """The baseline CT and mask, follow-up (CT, mask) pairs, the clinical inputs and the output
    folder; `argv()` is the one place its command line is built."""

    ct: Path
    mask: Path
    outdir: Path
    followups: tuple[tuple[Path, Path], ...] = ()
    clinical: Clinical = Clinical()  # checked by Clinical itself, field by field
    dicom_sr: bool = False  # also report_sr.dcm: needs the CT as a DICOM series folder
    identifiers: bool = False  # the input paths in the report (left out by default)
    overwrite: bool = False
    python: str | None = None

    def __post_init__(self):
        if not str(self.ct).strip() or not str(self.mask).strip():
            raise OptionError(None, "a report needs the baseline CT and its mask")
        for pair in self.followups:
            if len(pair) != 2:
                raise OptionError(pair[0] if pair else None, f"--followup takes a CT and its mask (CT2 M2); got {len(pair)} path(s)")
        if self.dicom_sr and not Path(self.ct).is_dir():
            raise OptionError(self.ct, "--dicom-sr needs the CT as a DICOM series folder (the SR references it)")

    def scans(self) -> list[tuple[Path, Path]]:
        """(CT, mask) of the baseline, then of each follow-up."""
        return [(self.ct, self.mask), *self.followups]

    def argv(self) -> list[str]:
        c = self.clinical
        argv = ich_argv("report", self.ct, "--mask", self.mask, "-o", self.outdir, "--json", python=self.python)
        for ct, mask in self.followups:
            argv += ["--followup", str(ct), str(mask)]
        values = {"--age": c.age, "--gcs": c.gcs, "--onset-hours": c.onset_hours, "--anticoagulant": c.anticoagulant,
                  "--recurrent-ich": None if c.recurrent_ich is None else ("yes" if c.recurrent_ich else "no")}
        argv += [part for option, value in values.items() if value is not None for part in (option, str(value))]
        flags = {"--dicom-sr": self.dicom_sr, "--identifiers": self.identifiers, "--overwrite": self.overwrite}
        return argv + [flag for flag, on in flags.items() if on]
