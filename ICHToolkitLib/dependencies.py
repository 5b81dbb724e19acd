"""The Python packages the ICH modules need, installed with one confirmation (shared by the three modules).

`ichkit` itself ships inside the extension (the top-level CMakeLists.txt installs it beside the
modules); what is installed here are its third-party dependencies. The pure part (what is missing, the pip command, the texts) is testable without Qt; `ensure()` is
the desktop part. Rules: ask once, listing every missing package; torch comes through the PyTorch
extension's helper (it picks the CUDA build that fits the machine); pip never replaces Slicer's
own SimpleITK, because packages that depend on it are installed with a constraint pinning the
installed version; offline, say so in one clear message instead of a pip traceback.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

INDEX_HOST = ("pypi.org", 443)
ONLINE_TIMEOUT_S = 3.0
SLICER_PROVIDES = ("numpy", "SimpleITK")  # in Slicer's own Python; never pip-installed over it


@dataclass(frozen=True)
class Requirement:
    module: str  # import name: present when importlib finds it
    pip: str  # pip requirement
    needs_sitk: bool = False  # depends on SimpleITK: installed under the constraint
    torch: bool = False  # installed by the PyTorch extension, not pip


REQUIREMENTS = {r.module: r for r in (
    Requirement("torch", "torch", torch=True),  # torchvision comes with it
    Requirement("scipy", "scipy>=1.11"),
    Requirement("nibabel", "nibabel>=5.0"),
    Requirement("pydicom", "pydicom>=2.4"),
    Requirement("tqdm", "tqdm>=4.66"),
    Requirement("nrrd", "pynrrd>=1.0"),
    Requirement("slicerio", "slicerio>=1.1"),
    Requirement("skimage", "scikit-image>=0.22"),
    Requirement("sklearn", "scikit-learn>=1.3"),
    Requirement("jsonschema", "jsonschema>=4.0"),
    Requirement("highdicom", "highdicom>=0.22"),
    Requirement("nnunetv2", "nnunetv2==2.8.1", needs_sitk=True),
    Requirement("radiomics", "pyradiomics-bhklab==3.1.4", needs_sitk=True),
    Requirement("timm", "timm==1.0.22"),
    Requirement("pytorch_grad_cam", "grad-cam>=1.5"),
    Requirement("xgboost", "xgboost-cpu>=2.0"),
    Requirement("monai", "monai==1.6.1", needs_sitk=True),
    Requirement("einops", "einops>=0.7"),
)}
BASE = ("torch", "scipy", "nibabel", "pydicom", "nrrd", "slicerio", "skimage", "sklearn", "jsonschema", "tqdm", "radiomics")
MODULE_NEEDS = {  # what each module's Apply needs; the backend's own imports decide the rest
    "ICHSegment": BASE + ("highdicom", "nnunetv2"),
    "ICHPredict": BASE + ("timm", "pytorch_grad_cam", "xgboost"),
    "ICHSynth": BASE + ("monai", "einops"),
}


def missing(module_name: str, find_spec=importlib.util.find_spec) -> list[Requirement]:
    """The requirements of `module_name` that cannot be imported, in install order."""
    return [REQUIREMENTS[name] for name in MODULE_NEEDS[module_name] if find_spec(name) is None]


def sitk_constraint(version: str | None = None) -> str:
    """`SimpleITK==<the installed version>`: pip then keeps Slicer's build."""
    return f"SimpleITK=={version or importlib.metadata.version('SimpleITK')}"


def pip_args(requirements: list[Requirement], constraints_file: str | Path) -> list[str]:
    """Arguments for `pip` (slicer.util.pip_install) installing every non-torch requirement at once."""
    packages = [r.pip for r in requirements if not r.torch]
    if not packages:
        return []
    constraint = ["-c", str(constraints_file)] if any(r.needs_sitk for r in requirements) else []
    return ["install", *constraint, *packages]


def write_constraints(folder: str | Path, sitk_version: str | None = None) -> Path:
    path = Path(folder) / "ichkit-constraints.txt"
    path.write_text(sitk_constraint(sitk_version) + "\n")
    return path


def confirmation_text(module_name: str, requirements: list[Requirement]) -> str:
    lines = [f"{module_name} needs these Python packages, which are not installed:", ""]
    lines += [f"  - {r.pip}" + (" (through the PyTorch extension)" if r.torch else "") for r in requirements]
    lines += ["", "Install them now? This can take several minutes; Slicer's SimpleITK is kept."]
    return "\n".join(lines)


def offline_message(requirements: list[Requirement]) -> str:
    names = ", ".join(r.pip for r in requirements)
    return (f"Cannot reach {INDEX_HOST[0]} to install: {names}. Connect to the internet, or install them "
            "from local wheels in Slicer's Python console with slicer.util.pip_install('--no-index --find-links FOLDER ...').")


def online(host: tuple[str, int] = INDEX_HOST, timeout: float = ONLINE_TIMEOUT_S) -> bool:
    try:
        socket.create_connection(host, timeout=timeout).close()
    except OSError:
        return False
    return True


def ensure(module_name: str) -> bool:
    """Desktop Slicer: install what `module_name` lacks after one confirmation; True when all is there."""
    # deferred: Slicer's own module, needed only for the desktop's dialogs; the checks above run without it
    import slicer

    todo = missing(module_name)
    if not todo:
        return True
    if not slicer.util.confirmOkCancelDisplay(confirmation_text(module_name, todo)):
        return False
    if not online():
        slicer.util.errorDisplay(offline_message(todo))
        return False
    if any(r.torch for r in todo):
        try:
            # deferred: PyTorchUtils comes with Slicer's PyTorch extension, which may not be installed
            import PyTorchUtils
        except ImportError:
            slicer.util.errorDisplay("Install the PyTorch extension (Extensions Manager), restart Slicer, then try again.")
            return False
        if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False) is None:
            slicer.util.errorDisplay("PyTorch could not be installed; see the PyTorch Utils module.")
            return False
    with tempfile.TemporaryDirectory() as folder:
        args = pip_args(todo, write_constraints(folder))
        if args:
            with slicer.util.WaitCursor():
                slicer.util.pip_install(args)
    importlib.invalidate_caches()
    return not missing(module_name)
