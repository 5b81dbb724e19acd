"""A fine-tuning job as the front ends offer it after "save as ground truth": how many cases the
dataset holds, whether that is enough, the model and work folder it will make, and the one command
line that starts `ich train finetune`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError
from ..models import load_registry
from ..segment.training.dataset import FILE_ENDING
from ..segment.training.finetune.register import ID_PREFIX, finetuned_id
from ..segment.training.finetune.settings import MIN_CASES
from .jobs import ich_argv

PARENT = "blast-ct-v1-single"
WORK_PREFIX = "finetune-"  # the default work folder DATASET/../finetune-NAME


def dataset_cases(dataset: str | Path) -> int:
    """Cases with a label map in DATASET/labelsTr (0 for a folder that is not a dataset yet)."""
    labels = Path(dataset) / "labelsTr"
    return len(list(labels.glob(f"*{FILE_ENDING}"))) if labels.is_dir() else 0


def finetune_offer(dataset: str | Path) -> dict:
    """What the "save as ground truth" panel shows: the count, the minimum, and whether to offer it."""
    n = dataset_cases(dataset)
    ready = n >= MIN_CASES
    text = (f"{n} cases saved: enough to fine-tune {PARENT} on them" if ready
            else f"{n} of the {MIN_CASES} cases needed before fine-tuning is offered")
    return {"cases": n, "minimum": MIN_CASES, "ready": ready, "text": text}


def default_name(dataset: str | Path) -> str:
    """The name a job takes when none is given: the dataset's, without its DatasetNNN_ prefix."""
    return Path(dataset).name.split("_", 1)[-1]


def model_id(name: str, parent: str = PARENT) -> str:
    """The registry id the job will register: blast-ct-v1-ft-NAME (NAME as a slug)."""
    return finetuned_id(load_registry().get(parent), name)


def work_folder(dataset: str | Path, name: str, chosen: str | Path | None = None) -> Path:
    """CHOSEN, else beside the dataset (DATASET/../finetune-NAME). An existing folder is refused:
    a new job there would mix its checkpoints with an earlier one's."""
    slug = model_id(name).rsplit(ID_PREFIX, 1)[-1]
    folder = Path(chosen) if chosen and str(chosen).strip() else Path(dataset).parent / f"{WORK_PREFIX}{slug}"
    if folder.exists():
        raise OptionError(folder, "already exists (an earlier job's: `ich train finetune --resume` continues it); "
                                  "choose another name or work folder")
    return folder


def summary(result: dict) -> str:
    """A finished job's one line (its --json result): the model, the epoch kept, the held-out loss before and after."""
    history, best = result["history"], result["best_epoch"]
    start = f" (resumed at epoch {result['resumed_from_epoch']})" if result.get("resumed_from_epoch") else ""
    return (f"fine-tuned {result['model_id']}{start}: kept epoch {best} of {result['epochs_done']}, held-out loss "
            f"{history[0]['val_loss']:.4f} -> {history[best]['val_loss']:.4f}")


@dataclass(frozen=True)
class FinetuneRequest:
    """`ich train finetune` as a background job; `argv()` builds its command line once."""

    dataset: Path
    outdir: Path
    name: str | None = None  # the model becomes blast-ct-v1-ft-NAME (default: the dataset's name)
    parent: str = PARENT
    resume: bool = False
    device: str | None = None
    python: str | None = None  # desktop Slicer's PythonSlicer; default: this interpreter

    def __post_init__(self):
        n = dataset_cases(self.dataset)
        if n < MIN_CASES:
            raise OptionError(Path(self.dataset), f"holds {n} cases; fine-tuning needs at least {MIN_CASES}")

    def argv(self) -> list[str]:
        argv = ich_argv("train", "finetune", "--from", self.parent, "--dataset", self.dataset, "-o", self.outdir, "--json",
                        python=self.python)
        return (argv + (["--name", self.name] if self.name else []) + (["--resume"] if self.resume else [])
                + (["--device", self.device] if self.device else []))
