#!/usr/bin/env bash
# Sets up the project's virtual environment at .venv (idempotent: reinstalls only when
# pyproject.toml or this script changed). Needs Python 3.11 (torch 2.14.1 and torchvision 0.29.1
# are taken from this machine's local wheel store; elsewhere pip downloads them).
#   ./setup.sh          the product's environment
#   ./setup.sh --test   plus what the tests need beyond it: Debian's chromium for the browser
#                       tests (Playwright drives /usr/bin/chromium; no browser is downloaded) and
#                       the peer's BLAST-CT package in an isolated .venv-peer for the equivalence
#                       tests. Either may fail offline; their tests are then skipped with a reason.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
stamp=.venv/.ichkit-setup
want=$(sha256sum pyproject.toml setup.sh | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  echo "setup: installing the ICH toolkit and its stack into .venv (first time: several minutes)" >&2
  .venv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check -e ".[scene,ml,cluster,test]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -c "import ichkit, torch, radiomics, SimpleITK, slicer" \
    || { echo "setup: the environment is incomplete (see pip's messages above; a fresh .venv needs about 8 GB, $(df -h --output=avail . | tail -1 | tr -d ' ') are free here)" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
if [ "${1:-}" = "--test" ]; then
  if [ ! -x /usr/bin/chromium ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "setup: installing Debian's chromium for the browser tests" >&2
    { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium && $sudo apt-get clean; } >&2 \
      || echo "setup: chromium could not be installed; the browser tests will be skipped" >&2
  fi
  bench/peer_env.sh .venv-peer >&2 || echo "setup: the peer environment could not be made; its equivalence tests will be skipped" >&2
fi
