#!/usr/bin/env bash
# Sets up the project's virtual environment at .venv (idempotent: reinstalls only when
# pyproject.toml changed). Needs Python 3.11 (torch 2.14.1 and torchvision 0.29.1 are taken
# from this machine's local wheel store; elsewhere pip downloads them).
set -euo pipefail
cd "$(dirname "$0")"
# --test: also Debian's chromium for the browser tests (Playwright drives /usr/bin/chromium;
# no browser is ever downloaded by a test tool).
if [ "${1:-}" = "--test" ] && [ ! -x /usr/bin/chromium ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing Debian's chromium for the browser tests" >&2
  $sudo apt-get update -qq >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 \
    || echo "setup: chromium could not be installed; the browser tests will be skipped" >&2
fi
PYTHON=${PYTHON:-python3}
stamp=.venv/.ichkit-setup
want=$(sha256sum pyproject.toml setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
echo "setup: installing the ICH toolkit and its stack into .venv (first time: several minutes)" >&2
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[scene,ml,cluster,test]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
.venv/bin/python -c "import ichkit, torch, radiomics, SimpleITK, slicer" \
  || { echo "setup: the environment is incomplete (see pip's messages above)" >&2; exit 1; }
echo "$want" > "$stamp"
