"""The layers are a contract: import-linter checks the backend's (pyproject.toml,
[tool.importlinter]), and the Slicer modules, a front end, may use the application layer and
below but never another front end (the web workstation, the CLI, the batch runner), nor each
other: what they share is `ICHToolkitLib`. Imports sit at module level, except where an optional
or heavy dependency is deferred into a function, with a `# deferred:` comment saying why."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS = ("ichkit.web", "ichkit.cli", "ichkit.batch")
SLICER_MODULES = ("ICHSegment", "ICHPredict", "ICHSynth")
SHARED_LIB = "ICHToolkitLib"  # what the modules share, installed beside them
DEFERRED = re.compile(r"#\s*deferred:\s*\S")


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


def _function_level_imports(tree: ast.AST) -> list[ast.stmt]:
    """Import statements inside a function or method, at any depth."""
    return [node for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for stmt in fn.body for node in ast.walk(stmt) if isinstance(node, (ast.Import, ast.ImportFrom))]


def _undeclared_deferrals(path: Path) -> list[int]:
    """Lines of function-level imports with no `# deferred: why` on their line or the line above;
    one comment above a block of consecutive import lines covers the block."""
    text = path.read_text()
    lines, tree = text.splitlines(), ast.parse(text, str(path))
    starts = {node.end_lineno: node.lineno for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))}

    def covered(line: int) -> bool:
        if DEFERRED.search(lines[line - 1]) or (line > 1 and DEFERRED.match(lines[line - 2].strip())):
            return True
        return line - 1 in starts and covered(starts[line - 1])  # the import just above, in the same block

    return sorted({node.lineno for node in _function_level_imports(tree) if not covered(node.lineno)})


def test_function_level_imports_say_why_they_are_deferred():
    paths = sorted(path for folder in ("ichkit", *SLICER_MODULES, SHARED_LIB) for path in (ROOT / folder).rglob("*.py"))
    offenders = [f"{path.relative_to(ROOT)}:{line}" for path in paths for line in _undeclared_deferrals(path)]
    assert not offenders, "imports inside functions without a `# deferred: why` comment " \
        "(move them to module level, or say why not):\n" + "\n".join(offenders)
