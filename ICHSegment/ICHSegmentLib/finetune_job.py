"""Fine-tuning offered after "save as ground truth": `ich train finetune` as a background job on
the dataset the annotator fills (`ichkit.app.finetune`: the offer, the model id, the work folder,
the command line). When it ends the new model is in the registry, so the model list, re-read,
shows it and the masks it makes carry its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ICHToolkitLib.jobmonitor import python_executable
from ichkit.app import finetune
from ichkit.app.jobs import Job
from ichkit.errors import OptionError

UNSET = {"", "."}  # an empty path field (the parameter node stores an unset Path as ".")


@dataclass(frozen=True)
class FinetuneJob:
    job: Job
    model_id: str  # blast-ct-v1-ft-NAME, registered when the job ends
    outdir: Path

    @staticmethod
    def offer(dataset: str | Path) -> dict:
        """`finetune_offer` of the dataset field ({cases, minimum, ready, text}); no text while the field is empty."""
        if str(dataset).strip() in UNSET:
            return {"cases": 0, "minimum": 0, "ready": False, "text": ""}
        return finetune.finetune_offer(dataset)

    @classmethod
    def start(cls, dataset: str | Path, name: str = "", folder: str | Path = "") -> "FinetuneJob":
        """Start fine-tuning on DATASET; NAME defaults to the dataset's, FOLDER to DATASET/../finetune-NAME (must not exist)."""
        if str(dataset).strip() in UNSET:
            raise OptionError(None, "give the ground-truth dataset folder (DatasetNNN_Name)")
        name = name.strip() or finetune.default_name(dataset)
        outdir = finetune.work_folder(dataset, name, None if str(folder).strip() in UNSET else folder)
        request = finetune.FinetuneRequest(Path(dataset), outdir, name=name, python=python_executable())
        return cls(Job(request.argv()).start(), finetune.model_id(name), outdir)

    def accept(self, result: dict) -> str:
        """The status line of the finished job (the widget then re-reads the model list)."""
        return f"{finetune.summary(result)}; {result['model_id']} is now in the model list (work folder {self.outdir})"
