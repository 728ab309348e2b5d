#!/usr/bin/env bash
# The one production install, run by the Dockerfile, `make setup-prod` and CI alike:
#   scripts/install-prod.sh VENV_DIR
# 1. a fresh virtual environment at VENV_DIR (Python: $PYTHON, default python3);
# 2. every dependency from requirements.lock: pinned, hash-checked (--require-hashes), wheels only, and
#    nothing the lock does not name (--no-deps);
# 3. the app itself, without dependencies, built with the locked setuptools from a clean copy of this
#    checkout (an in-tree build/ could carry modules deleted since into the wheel);
# 4. `pip check` (the lock is complete and consistent) and the app's own entry point answering.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:?usage: scripts/install-prod.sh VENV_DIR}"
python="${PYTHON:-python3}"

"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input --quiet install --no-cache-dir)
"${pip[@]}" --require-hashes --only-binary :all: --no-deps -r "$root/requirements.lock"
source_copy="$(mktemp -d)"
trap 'rm -rf "$source_copy"' EXIT
tar -C "$root" --exclude=./.git --exclude=./.venv --exclude=./build --exclude='*.egg-info' \
  --exclude=./reports --exclude=./demo-output --exclude='*.db' -cf - . | tar -C "$source_copy" -xf -
"${pip[@]}" --no-deps --no-build-isolation "$source_copy"
"$venv/bin/python" -m pip --disable-pip-version-check check
"$venv/bin/mass-alert" --help >/dev/null
echo "installed $("$venv/bin/python" -m pip --disable-pip-version-check show mass-text-alerts | sed -n 's/^Version: /mass-text-alerts /p') into $venv"
