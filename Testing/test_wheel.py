"""A built wheel is a working product: it carries the registry, the schema, the model cards, the
bundled demo models and the radiomics presets, and `ich models list` and `ich demo` run from a
non-editable install in a scratch environment that borrows the stack without downloading it."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ("ichkit/resources/models.json", "ichkit/resources/models.schema.json",
            "ichkit/resources/model_cards/ich-demo-phantom.md", "ichkit/resources/models/ich-demo-phantom/network.pt",
            "ichkit/resources/models/ich-demo-he-vit/model.pt", "ichkit/resources/radiomics/full.yaml",
            "ichkit/resources/models/blast-ct-atlas/atlas_template_space.nii.gz", "ichkit/resources/models/blast-ct-atlas/LICENSE.txt")


def _run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)


def test_wheel_carries_the_data_and_runs_outside_the_checkout(tmp_path):
    source = tmp_path / "src"  # a copy, so the build leaves no build/ or egg-info in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "Testing", "bench", "ich-demo", "out"))
    build = _run([sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist"],
                 cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("ichkit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(PACKAGED) <= names, set(PACKAGED) - names

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", "--without-pip", venv]).returncode == 0
    scratch = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    # The stack comes from this environment's site-packages as a plain path: its .pth files (the
    # editable install of the checkout among them) are not processed, so ichkit is the wheel's.
    (scratch / "stack.pth").write_text(sysconfig.get_path("purelib") + "\n")
    install = _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps", "-q", wheel])
    assert install.returncode == 0, install.stderr

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ICHKIT_RESOURCES")}
    env["ICHKIT_CACHE"] = str(tmp_path / "cache")
    where = _run([venv / "bin" / "python", "-c", "import ichkit.resources as r; print(r.resource_path('models.json'))"], env=env, cwd=tmp_path)
    assert where.returncode == 0 and Path(where.stdout.strip()).is_relative_to(scratch), where.stdout + where.stderr
    listed = _run([venv / "bin" / "ich", "models", "list"], env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "ich-demo-phantom" in listed.stdout, listed.stderr
    demo = _run([venv / "bin" / "ich", "demo", "-o", tmp_path / "demo", "--json"], env=env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout) and any((tmp_path / "demo").iterdir())
