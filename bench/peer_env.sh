#!/usr/bin/env bash
# Creates the isolated interpreter that runs the peer (blast-ct 2.1.0 from PyPI) for the
# equivalence test Testing/test_blast_ct.py and bench/bench_blast_ct.py. It is kept out of the
# project venv on purpose: the peer's dependency pins must not touch ours.
#   bench/peer_env.sh [DIR]      (default /work/peer-venv)
#   export ICH_PEER_PYTHON=DIR/bin/python
set -euo pipefail
dir="${1:-/work/peer-venv}"
if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import blast_ct" 2>/dev/null; then
    echo "peer env ready: $dir/bin/python"; exit 0
fi
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --upgrade pip
# torch pinned in the same command as the peer, as the project requires.
"$dir/bin/pip" install --quiet blast-ct==2.1.0 torch==2.14.1
echo "peer env ready: $dir/bin/python"
