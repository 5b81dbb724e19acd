#!/usr/bin/env bash
# Creates the isolated interpreter that runs the peer (blast-ct 2.1.0 from PyPI) for the
# equivalence test Testing/test_blast_ct.py and bench/bench_blast_ct.py. It is kept out of the
# project venv on purpose: the peer's dependency pins must not touch ours.
#   bench/peer_env.sh [DIR]      (default /work/peer-venv)
#   export ICH_PEER_PYTHON=DIR/bin/python
# torch with its CUDA libraries is about 5.5 GB, so the peer borrows the project venv's torch
# 2.14.1 read-only (symlinks on a path of its own, after its own site-packages) instead of a
# second copy; everything else the peer needs is its own. Set ICH_PEER_OWN_TORCH=1 for a copy.
set -euo pipefail
dir=$(realpath -m "${1:-/work/peer-venv}")  # absolute: the .pth below must not depend on the cwd
main_python="$(dirname "$0")/../.venv/bin/python"
if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import blast_ct" 2>/dev/null; then
    echo "peer env ready: $dir/bin/python"; exit 0
fi
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --no-cache-dir --upgrade pip
site=$("$dir/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
if [ -z "${ICH_PEER_OWN_TORCH:-}" ] && [ -x "$main_python" ] \
    && main_site=$("$main_python" -c "import torch, os; assert torch.__version__.startswith('2.14.1'); print(os.path.dirname(os.path.dirname(torch.__file__)))" 2>/dev/null); then
    borrowed="$dir/borrowed-torch"
    mkdir -p "$borrowed"
    for entry in "$main_site"/torch "$main_site"/torch-*.dist-info "$main_site"/torchgen "$main_site"/functorch \
                 "$main_site"/nvidia "$main_site"/nvidia_*.dist-info "$main_site"/triton "$main_site"/triton-*.dist-info \
                 "$main_site"/cuda "$main_site"/cuda_*.dist-info; do
        if [ -e "$entry" ]; then ln -sfn "$entry" "$borrowed/"; fi
    done
    echo "$borrowed" > "$site/zz-borrowed-torch.pth"
    echo "peer env: borrowing torch from $main_site"
fi
# torch pinned in the same command as the peer, as the project requires.
"$dir/bin/pip" install --quiet --no-cache-dir blast-ct==2.1.0 torch==2.14.1 2>&1 | grep -v "^WARNING: Location" >&2 || true
"$dir/bin/python" -c "import blast_ct, torch"
echo "peer env ready: $dir/bin/python"
