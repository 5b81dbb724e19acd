"""A synthesis job (`ich train synth`, `ich synth sample | balance | reader-study`): the request a
front end fills in, checked once, and its one command line for a background job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError
from .jobs import ich_argv
from .segment import DEVICES

COMMANDS = {"train": ("train", "synth"), "sample": ("synth", "sample"), "balance": ("synth", "balance"),
            "reader-study": ("synth", "reader-study")}
NEEDS = {"train": ("manifest",), "sample": ("model", "n"), "balance": ("manifest", "synthetic"), "reader-study": ("manifest", "synthetic", "n")}
SAMPLERS = ("ddim", "ddpm")  # ddim: the fast default; ddpm walks every training step
BALANCE_RATIO = "1:2"  # UKAN-Semibalanced, the study's best classifier's training set


def _given(value) -> bool:
    return value is not None and str(value).strip() not in ("", ".")


@dataclass(frozen=True)
class SynthRequest:
    """One step of the synthesis pipeline; the fields a step does not read are ignored."""

    step: str  # one of COMMANDS
    output: Path  # a folder (train, sample, reader-study) or the manifest CSV to write (balance)
    manifest: Path | None = None  # the real ROI manifest (train, balance, reader-study)
    model: Path | None = None  # sample: model.pt or the training folder holding it
    synthetic: Path | None = None  # balance, reader-study: the manifest `ich synth sample` wrote
    n: int | None = None  # sample: images to draw; reader-study: real and synthetic images each
    seed: int = 0
    cls: str = "he"  # train: the minority class learnt
    preset: str = "seed"  # train: the paper's recipe; smoke: a tiny run
    epochs: int | None = None  # train: the preset's unless given
    sampler: str = "ddim"
    steps: int | None = None  # sample: DDIM chain length (the CLI's default unless given)
    ratio: str = BALANCE_RATIO
    device: str | None = None
    python: str | None = None

    def __post_init__(self):
        if self.step not in COMMANDS:
            raise OptionError(None, f"synthesis step {self.step!r}: choose one of {', '.join(COMMANDS)}")
        missing = [name for name in ("output", *NEEDS[self.step]) if not _given(getattr(self, name))]
        if missing:
            raise OptionError(None, f"{self.step} needs {' and '.join(missing)}")
        for name in ("n", "epochs", "steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise OptionError(None, f"{name} {getattr(self, name)}: must be 1 or more")
        if self.seed < 0:
            raise OptionError(None, f"seed {self.seed}: must be 0 or more")
        if self.sampler not in SAMPLERS:
            raise OptionError(None, f"sampler {self.sampler!r}: choose one of {', '.join(SAMPLERS)}")
        if self.device not in (None, *DEVICES):
            raise OptionError(None, f"device {self.device!r}: choose one of {', '.join(DEVICES)}")

    def argv(self) -> list[str]:
        options = {
            "train": {"--data": self.manifest, "-o": self.output, "--class": self.cls, "--preset": self.preset, "--epochs": self.epochs,
                      "--device": self.device},
            "sample": {"--model": self.model, "-o": self.output, "--n": self.n, "--seed": self.seed, "--sampler": self.sampler,
                       "--steps": self.steps, "--device": self.device},
            "balance": {"--real": self.manifest, "--synthetic": self.synthetic, "--ratio": self.ratio, "-o": self.output},
            "reader-study": {"--real": self.manifest, "--synthetic": self.synthetic, "-o": self.output, "--n-real": self.n,
                             "--n-synthetic": self.n, "--seed": self.seed},
        }[self.step]
        parts = [part for option, value in options.items() if value is not None for part in (option, str(value))]
        return ich_argv(*COMMANDS[self.step], *parts, "--json", python=self.python)
