#!/usr/bin/env bash
# The fresh-machine check: clone the committed HEAD into a new temporary folder, with ../shared beside it,
# an empty Caffe build cache (MCL_CACHE_DIR) and no .venv, and run the README's test command there
# (`make test`, which is what CI's .ci/run calls; it sets up first). Use it before submitting a change to
# setup or dependencies.
#   KEEP=1     keep the temporary folder afterwards (it is kept anyway when the check fails)
#   FRESH_DIR  where to make it (default: a new folder under ${TMPDIR:-/tmp})
# The machine's apt packages and pip's download cache are not reset: it is a fresh clone, venv and build
# cache on this machine, not a new machine.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$(cd "$ROOT/.." && pwd)/shared"
[[ -d "$SHARED" ]] || { echo "fresh-check: no shared data at $SHARED" >&2; exit 2; }
dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no | wc -l)
if ((dirty)); then
  echo "fresh-check: note: $dirty changed file(s) are not committed; the check runs the committed HEAD only"
fi
T="${FRESH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/mcl-fresh.XXXXXX")}"
mkdir -p "$T"
git clone -q "$ROOT" "$T/main"
ln -s "$SHARED" "$T/shared"
export MCL_CACHE_DIR="$T/cache"
head=$(git -C "$T/main" log -1 --format='%h %s')
echo "fresh-check: commit $head"
echo "fresh-check: clone $T/main, cache $MCL_CACHE_DIR (empty), log $T/fresh-check.log"
t0=$(date +%s)
set +e
(cd "$T/main" && make test) 2>&1 | tee "$T/fresh-check.log"
rc=${PIPESTATUS[0]}
set -e
secs=$(( $(date +%s) - t0 ))
result=$(grep -E '^=+ .*(passed|failed|error).* in ' "$T/fresh-check.log" | tail -n1 || true)
printf 'fresh-check: exit %d after %d:%02d:%02d; %s\n' "$rc" $((secs / 3600)) $((secs % 3600 / 60)) $((secs % 60)) \
  "${result:-no pytest result line}"
if ((rc == 0)) && [[ -z "${KEEP:-}" ]]; then
  rm -rf "$T"
else
  echo "fresh-check: kept $T"
fi
exit "$rc"
