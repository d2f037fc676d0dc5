#!/usr/bin/env bash
# Refresh constraints.txt, the exact Python package versions that `make setup` installs (make lock).
# It resolves setup.cfg's requirements anew in a throw-away venv, with the newest releases pip finds, and
# writes every installed distribution (pip, setuptools and wheel included) pinned with ==. Then run
# `make test` (and tools/fresh_check.sh) before committing the new file: the lock is only worth what the
# suite has passed with.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
OUT="$ROOT/constraints.txt"
T=$(mktemp -d "${TMPDIR:-/tmp}/mcl-lock.XXXXXX")
trap 'rm -rf "$T"' EXIT
echo "lock: resolving setup.cfg's requirements in a new venv ($T)"
"$PYTHON" -m venv "$T/venv"
"$T/venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
# install from a copy of the committed tree, so that no build/ folder lands in the clone
mkdir "$T/src" && git -C "$ROOT" archive HEAD | tar -x -C "$T/src"
"$T/venv/bin/python" -m pip install -q "$T/src[train,test,detectors]"
{
  echo "# Exact versions that tools/setup.sh installs (pip -c). Refresh deliberately: make lock, then make test."
  echo "# Resolved $(date -u +%Y-%m-%d) with $("$T/venv/bin/python" --version 2>&1) on $(uname -m)."
  "$T/venv/bin/python" -m pip freeze --all --exclude mcl-caffe | LC_ALL=C sort -f
} >"$OUT.new"
mv "$OUT.new" "$OUT"
echo "lock: wrote $OUT ($(grep -vc '^#' "$OUT") packages); now run make test"
