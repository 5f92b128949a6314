#!/usr/bin/env bash
# Set up cat_follow. Idempotent: run it again after a pull.
#
#   ./setup.sh --dev                      laptop / CI: .venv/ with the package and test tools,
#                                         model downloaded and sha256-checked
#   ./setup.sh --dev --assets DIR         same, copying models and media from DIR instead
#   sudo ./setup.sh [--pi]                the car (default on a Raspberry Pi)
#   ./setup.sh ... --dry-run              print every step, do nothing
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$REPO/.venv"
ASSETS="$REPO/assets"
SSD_DIR="$ASSETS/models/ssd_mobilenet_v1_coco_quant"
SSD_ZIP_URL="https://storage.googleapis.com/download.tensorflow.org/models/tflite/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.zip"
SSD_SHA256="e4b118e5e4531945de2e659742c7c590f7536f8d0ed26d135abcfe83b4779d13"
VILIB_MODEL="/opt/vilib/detect.tflite"
PYTHON="${PYTHON:-python3}"

mode=""
assets_src=""
dry_run=0

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
  echo "setup.sh: FAILED: $1" >&2
  [ $# -gt 1 ] && echo "setup.sh: what to do: $2" >&2
  exit 1
}

step() { echo "==> $*"; }

# run CMD...: print it; run it unless --dry-run; a failure stops with the step's name.
run() {
  echo "    \$ $*"
  if [ "$dry_run" -eq 0 ]; then
    "$@" || die "'$*' exited with $?" "read the output above; fix it and run setup.sh again"
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dev) mode=dev ;;
    --pi) mode=pi ;;
    --assets)
      [ $# -ge 2 ] || die "--assets needs a directory" "./setup.sh --dev --assets ../shared/assets"
      assets_src="$2"; shift ;;
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1" "see ./setup.sh --help" ;;
  esac
  shift
done

if [ -z "$mode" ]; then
  if grep -qs "Raspberry Pi" /proc/device-tree/model; then mode=pi; else mode=dev; fi
fi

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

model_ok() { [ -f "$SSD_DIR/detect.tflite" ] && [ "$(sha_of "$SSD_DIR/detect.tflite")" = "$SSD_SHA256" ]; }

install_assets() {
  step "detector model and media -> $ASSETS"
  if [ -n "$assets_src" ]; then
    [ -d "$assets_src" ] || die "--assets $assets_src is not a directory" "give the folder that holds models/"
    run mkdir -p "$ASSETS"
    run cp -R "$assets_src/." "$ASSETS/"
    run chmod -R u+w "$ASSETS"
    if [ -f "$ASSETS/SHA256SUMS" ]; then
      echo "    \$ (cd $ASSETS && sha256sum --quiet -c SHA256SUMS)"
      if [ "$dry_run" -eq 0 ]; then
        (cd "$ASSETS" && sha256sum --quiet -c SHA256SUMS) \
          || die "copied assets do not match their SHA256SUMS" "re-copy them from a good source"
      fi
    fi
  elif model_ok; then
    echo "    model already present, sha256 ok"
  elif [ -f "$VILIB_MODEL" ] && [ "$(sha_of "$VILIB_MODEL")" = "$SSD_SHA256" ]; then
    echo "    reusing vilib's identical $VILIB_MODEL"
    run mkdir -p "$SSD_DIR"
    run cp "$VILIB_MODEL" "$SSD_DIR/detect.tflite"
  else
    tmp="$(mktemp -d)"
    run "$PYTHON" -c "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])" \
      "$SSD_ZIP_URL" "$tmp/ssd.zip"
    run "$PYTHON" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
      "$tmp/ssd.zip" "$tmp/x"
    run mkdir -p "$SSD_DIR"
    run cp "$tmp/x/detect.tflite" "$tmp/x/labelmap.txt" "$SSD_DIR/"
    rm -rf "$tmp"
  fi
  if [ "$dry_run" -eq 0 ]; then
    model_ok || die "$SSD_DIR/detect.tflite is missing or its sha256 is not $SSD_SHA256" \
      "delete it and run setup.sh again (or pass --assets DIR with a good copy)"
    [ -f "$SSD_DIR/labelmap.txt" ] || die "$SSD_DIR/labelmap.txt is missing" "run setup.sh again"
  fi
}

setup_dev() {
  step "Python virtual environment $VENV"
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found" "install Python 3.11+"
  run "$PYTHON" -c "import sys; assert sys.version_info >= (3, 11), 'Python 3.11+ needed'"
  [ -x "$VENV/bin/python" ] || run "$PYTHON" -m venv "$VENV"
  step "Python packages (requirements-dev.txt) and the package itself (editable)"
  run "$VENV/bin/python" -m pip install --quiet --upgrade pip
  run "$VENV/bin/python" -m pip install --quiet -r "$REPO/requirements-dev.txt"
  run "$VENV/bin/python" -m pip install --quiet --no-deps -e "$REPO"
  install_assets
  step "check"
  run "$VENV/bin/cat-follow" config --check /dev/null
  echo "ready: $VENV/bin/cat-follow"
}

setup_pi() {
  [ "$dry_run" -eq 1 ] || [ "$(id -u)" -eq 0 ] || die "the car set-up needs root" "sudo ./setup.sh --pi"
  step "apt packages"
  run apt-get update
  run apt-get install -y python3-venv python3-picamera2 python3-libcamera python3-numpy i2c-tools git
  step "virtual environment $VENV (with system site packages: apt's numpy and picamera2)"
  [ -x "$VENV/bin/python" ] || run python3 -m venv --system-site-packages "$VENV"
  step "Python packages (requirements.txt), never replacing apt's numpy"
  constraint="$(mktemp)"
  if [ "$dry_run" -eq 0 ]; then
    python3 -c "import numpy; print('numpy==' + numpy.__version__)" > "$constraint" \
      || die "apt's numpy is not importable" "sudo apt-get install --reinstall python3-numpy"
  fi
  run "$VENV/bin/python" -m pip install --quiet -r "$REPO/requirements.txt" -c "$constraint"
  run "$VENV/bin/python" -m pip install --quiet --no-deps -e "$REPO"
  rm -f "$constraint"
  install_assets
  echo "NOTE: the service user, systemd unit and SunFounder libraries are not installed by this"
  echo "      version of setup.sh yet (tracked in the 'On the car' issue)."
}

echo "cat_follow setup: mode=$mode${assets_src:+ assets=$assets_src}$([ "$dry_run" -eq 1 ] && echo ' (dry run)')"
case "$mode" in
  dev) setup_dev ;;
  pi) setup_pi ;;
esac
