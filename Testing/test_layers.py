"""The layers are a contract: import-linter checks the backend's (pyproject.toml,
[tool.importlinter]), and the Slicer modules, a front end, may use the application layer and
below but never another front end (the web workstation, the CLI, the batch runner), nor each
other: what they share is `ICHToolkitLib`."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS = ("ichkit.web", "ichkit.cli", "ichkit.batch")
SLICER_MODULES = ("ICHSegment", "ICHPredict", "ICHSynth")
SHARED_LIB = "ICHToolkitLib"  # what the modules share, installed beside them


def test_backend_layers_contract_is_kept():
    run = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_slicer_modules_import_no_other_front_end_nor_each_other():
    offenders = set()
    for folder in (*SLICER_MODULES, SHARED_LIB):
        others = tuple(f"{m}Lib" for m in SLICER_MODULES if m != folder) + tuple(m for m in SLICER_MODULES if m != folder)
        offenders |= {f"{path.relative_to(ROOT)}: {name}" for path in (ROOT / folder).rglob("*.py")
                      for name in _imports(path) if name.startswith(FRONT_ENDS) or name.split(".")[0] in others}
    assert not offenders, sorted(offenders)
