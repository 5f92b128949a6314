#!/usr/bin/env bash
# Set up cat_follow. Idempotent: run it again after a pull.
#
#   ./setup.sh --dev                      laptop / CI: .venv/ with the package and test tools,
#                                         model downloaded and sha256-checked
#   ./setup.sh --dev --assets DIR         same, copying models and media from DIR instead
#                                         (--dev also installs SunFounder's robot-hat and picar-x
#                                         for the emulated-HAT tests from ../shared/vendor or --vendor DIR)
#   sudo ./setup.sh [--pi]                the car (default on a Raspberry Pi)
#   sudo ./setup.sh --pi --vendor DIR     same, robot-hat and picar-x from DIR, not their git repositories
#   ./setup.sh --pi --emulated-root ...   inside tests/arm64/check.sh's emulated arm64 root: apt
#                                         packages checked, not installed; no user, I2C or systemd
#   ./setup.sh ... --dry-run              print every step, do nothing
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$REPO/.venv"
ASSETS="$REPO/assets"
SSD_DIR="$ASSETS/models/ssd_mobilenet_v1_coco_quant"
# CAT_FOLLOW_SSD_URL: for the test that checks what a failed download says; not for normal use
SSD_ZIP_URL="${CAT_FOLLOW_SSD_URL:-https://storage.googleapis.com/download.tensorflow.org/models/tflite/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.zip}"
SSD_SHA256="e4b118e5e4531945de2e659742c7c590f7536f8d0ed26d135abcfe83b4779d13"
VILIB_MODEL="/opt/vilib/detect.tflite"
# Cat photos and the segmentation model the simulator cuts cats out with: google-coral/test_data
# (Apache-2.0) at a pinned commit, each checked against its sha256.
CORAL_BASE="https://raw.githubusercontent.com/google-coral/test_data/104342d2d3480b3e66203073dac24f4e2dbb4c41"
CORAL_FILES="
images/cat_720p.jpg cat_720p.jpg cfb1dbdf64b30de79104a47555ff8e9f12737a12c2128ecd0e7f38531a8c13ce
images/cat.bmp cat.bmp 34f235786382686111728287fd26d4c24dd8c25de8233469d6eeb301888ce0a9
images/resized_cat.bmp resized_cat.bmp c171ae0db8c92170ddf8b91218961bbb0d6ec13b5e193c3b761e45b852d94d97
images/cat_test_0.bmp imprinting/cat_test_0.bmp edd491a8891c22c5c1ec12592c0ddedf5879e99e50e1041491dac5cc0a007c20
images/cat_train_0.bmp imprinting/cat_train_0.bmp f1a5019f8aa9bf6dc094a408d504dff8d20f4a647a2214e8f3231bf085dba0d0
images/dog_test_0.bmp imprinting/dog_test_0.bmp 11f7b24c7055eb79a46963d5da83598040c7ff0fbbfeb038eaf80482c246d0b6
images/grace_hopper.bmp grace_hopper.bmp c43444bf3b1b1e3080551ca194bd231da4b67f20fc91454502915a6b806b614f
images/bird.bmp bird.bmp 3fd22d6ed352b8e721d9982e38ed655f8429e168bb53ad205c6f3cdfa848e994
images/sunflower.bmp sunflower.bmp 896b5e31cee42ebe32ee91251fc42041ca03c767fe02bd7ebc0e37d45f4a45b2
models/deeplabv3_mnv2_pascal_quant/deeplabv3_mnv2_pascal_quant.tflite deeplabv3_mnv2_pascal_quant.tflite 350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398
models/mobilenet_v2_imagenet_quant/mobilenet_v2_1.0_224_quant.tflite mobilenet_v2_1.0_224_quant.tflite 7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776
models/mobilenet_v2_imagenet_quant/imagenet_labels.txt imagenet_labels.txt b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1
"
# The default detector, NanoDet-Plus-m-1.5x 416 (Apache-2.0): OpenCV Zoo's ONNX at tag 4.10.0, the
# official download (an LFS object: media.githubusercontent.com serves its bytes).
ZOO_BASE="https://media.githubusercontent.com/media/opencv/opencv_zoo/f88e9b2bafd21f1cad242fb5af6d78f2bcba16a3/models"
ZOO_FILES="
models/nanodet_plus_m_1.5x_416/object_detection_nanodet_2022nov.onnx object_detection_nanodet/object_detection_nanodet_2022nov.onnx 4b82da9944b88577175ee23a459dce2e26e6e4be573def65b1055dc2d9720186
"
PYTHON="${PYTHON:-python3}"
# The car
SERVICE_USER="${CAT_FOLLOW_USER:-catfollow}"
STATE_DIR="/var/lib/cat-follow"
CONFIG_FILE="/etc/cat-follow/config.toml"
CALIBRATION_FILE="/etc/cat-follow/calibration.toml"
PICARX_CONF="/opt/picar-x/picar-x.conf"
UNIT_FILE="/etc/systemd/system/cat-follow.service"
ROBOT_HAT_REF="v2.5.3"                                    # a release tag
PICARX_REF="08a852ef7f15c8d566279c81f6d482d079c83a3c"     # picar-x has no release tags: the v2.0 branch, pinned
# The car's apt packages. From Debian's archive (tests/arm64/check.sh installs exactly these in its
# arm64 root); libgl1 and libglib2.0-0 are what opencv-contrib-python's wheel loads (libGL,
# libgthread): Raspberry Pi OS Lite ships without them and cv2 does not import there.
PI_APT_DEBIAN="python3-venv python3-numpy i2c-tools git python3-smbus2 python3-pyaudio libgl1 libglib2.0-0"
# Only in Raspberry Pi OS's own archive (the arm64 check stands in for them with the tests' fakes).
PI_APT_RPI="python3-picamera2 python3-libcamera python3-lgpio"

mode=""
assets_src=""
vendor_dir=""
dry_run=0
emulated=0

usage() {  # the comment block at the top of this file, without the '#'
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
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
    --vendor)
      [ $# -ge 2 ] || die "--vendor needs a directory" "./setup.sh --dev --vendor ../shared/vendor"
      vendor_dir="$2"; shift ;;
    --dry-run) dry_run=1 ;;
    --emulated-root) emulated=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1" "see ./setup.sh --help" ;;
  esac
  shift
done
# arguments are checked before anything is installed
if [ "$emulated" -eq 1 ] && [ "$mode" != pi ]; then
  die "--emulated-root goes with --pi" "./setup.sh --pi --emulated-root (tests/arm64/check.sh runs it)"
fi
if [ -n "$assets_src" ] && [ ! -d "$assets_src" ]; then
  die "--assets $assets_src is not a directory" "give the folder that holds models/ (e.g. --assets ../shared/assets)"
fi

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
    step "downloading the detector model (TensorFlow's coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.zip)"
    fetch "$SSD_ZIP_URL" "$tmp/ssd.zip"
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
  if [ -z "$assets_src" ]; then
    fetch_files "$CORAL_BASE" "$CORAL_FILES"
    fetch_files "$ZOO_BASE" "$ZOO_FILES"
  fi
}

# fetch URL DEST: download (30 s timeout), or stop with one line on why and how to work offline.
fetch() {
  echo "    \$ download $1 -> $2"
  [ "$dry_run" -eq 0 ] || return 0
  "$PYTHON" - "$1" "$2" <<'PY' || die "could not download $1" \
"no network? copy the assets (models/, images/, video/) from a machine that has them and run ./setup.sh --dev --assets DIR"
import shutil, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=30) as r, open(sys.argv[2], "wb") as f:
        shutil.copyfileobj(r, f)
except (OSError, ValueError) as exc:
    sys.exit(f"    download failed: {exc}")
PY
}

# fetch_files BASE LIST: each "dest src sha256" line of LIST, downloaded from BASE/src into
# $ASSETS/dest where missing or wrong, and checked against its sha256 (the simulator's cat
# photos and segmentation model, the crop verifier, the default detector).
fetch_files() {
  local base="$1" list="$2"
  echo "$list" | while read -r dest src sum; do
    [ -n "$dest" ] || continue
    if [ -f "$ASSETS/$dest" ] && [ "$(sha_of "$ASSETS/$dest")" = "$sum" ]; then
      continue
    fi
    run mkdir -p "$(dirname "$ASSETS/$dest")"
    fetch "$base/$src" "$ASSETS/$dest"
    if [ "$dry_run" -eq 0 ] && [ "$(sha_of "$ASSETS/$dest")" != "$sum" ]; then
      rm -f "$ASSETS/$dest"
      die "$dest: sha256 mismatch after download" "run setup.sh again, or pass --assets DIR"
    fi
  done
}

# Debian's chromium and chromium-driver: the web view's real-browser tests drive them. Quick
# when they are there; installed with apt when root; otherwise says how (the tests then skip).
install_browser() {
  step "chromium and chromium-driver (browser tests of the web view)"
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "    already installed"
  elif ! command -v apt-get >/dev/null; then
    echo "    NOTE: no apt-get here: install chromium and its chromedriver yourself, or the browser tests skip"
  elif [ "$(id -u)" -ne 0 ]; then
    echo "    NOTE: not root, so not installing them: sudo apt-get install chromium chromium-driver"
    echo "          (until then the web view's browser tests skip, saying so)"
  else
    run apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver
  fi
}

# The libraries OpenCV's GUI wheel loads (libGL, glib, X11 session), and Xvfb for the test that
# opens a real window. apt as root; otherwise say the command (Xvfb only warns: tests skip).
dev_system_packages() {
  local need=() missing=() p
  need=(libgl1 libglib2.0-0 libsm6 libice6 libxext6 xvfb)
  command -v dpkg-query >/dev/null || { echo "    (not Debian: make sure libGL and glib are installed)"; return 0; }
  for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  step "system packages for OpenCV's window and the window test: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    run apt-get update
    run apt-get install -y --no-install-recommends "${missing[@]}"
  elif [ "${missing[*]}" = xvfb ]; then
    echo "    WARNING: xvfb is not installed: the window test will skip (sudo apt-get install xvfb)"
  else
    die "missing system packages: ${missing[*]}" "sudo apt-get install ${missing[*]}; then run setup.sh again"
  fi
}

setup_dev() {
  step "Python 3.11+ ($PYTHON)"
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found" "install Python 3.11+"
  run "$PYTHON" -c "import sys; assert sys.version_info >= (3, 11), 'Python 3.11+ needed'"
  install_assets  # first: a failed download (no network) is told in seconds, not after the installs
  step "Python virtual environment $VENV"
  [ -x "$VENV/bin/python" ] || run "$PYTHON" -m venv "$VENV"
  dev_system_packages
  step "Python packages (requirements-dev.txt) and the package itself (editable)"
  run "$VENV/bin/python" -m pip install --quiet --upgrade pip
  if "$VENV/bin/python" -m pip show -q opencv-contrib-python-headless >/dev/null 2>&1; then
    # the headless wheel (older set-ups) and the GUI one share the cv2 folder: remove both, reinstall one
    run "$VENV/bin/python" -m pip uninstall --quiet -y opencv-contrib-python-headless opencv-contrib-python
  fi
  run "$VENV/bin/python" -m pip install --quiet -r "$REPO/requirements-dev.txt"
  run "$VENV/bin/python" -m pip install --quiet --no-deps -e "$REPO"
  install_browser
  install_vendor
  step "check"
  run "$VENV/bin/cat-follow" config --check /dev/null
  echo "ready: $VENV/bin/cat-follow"
}

# SunFounder's robot-hat and picar-x from a local folder (../shared/vendor, or --vendor DIR), so
# the tests can run their real code against the emulated HAT (tests/hat_emulator). Installed with
# pip, never copied into the repository. picar-x's setup.py reads a DESCRIPTION.rst that the
# vendored copy leaves out (git has it): it is built from a scratch copy with an empty one.
install_vendor() {  # [PIP OPTIONS...]: e.g. -c CONSTRAINT on the car
  [ -n "$vendor_dir" ] || { [ -d "$REPO/../shared/vendor" ] && vendor_dir="$REPO/../shared/vendor"; } || return 0
  [ -d "$vendor_dir/robot-hat" ] && [ -d "$vendor_dir/picar-x" ] \
    || die "$vendor_dir has no robot-hat/ and picar-x/" "give the folder that holds both (--vendor DIR)"
  step "SunFounder robot-hat and picar-x from $vendor_dir (for the emulated-HAT tests)"
  run "$VENV/bin/python" -m pip install --quiet "$@" "$vendor_dir/robot-hat"
  scratch="$(mktemp -d)"
  run cp -R "$vendor_dir/picar-x" "$scratch/picar-x"
  run chmod -R u+w "$scratch/picar-x"
  [ -f "$scratch/picar-x/DESCRIPTION.rst" ] || run touch "$scratch/picar-x/DESCRIPTION.rst"
  run "$VENV/bin/python" -m pip install --quiet "$@" "$scratch/picar-x"
  rm -rf "$scratch"
}

# write_file PATH MODE: write standard input to PATH (or show it, in a dry run).
write_file() {
  echo "    \$ write $1 (mode $2)"
  if [ "$dry_run" -eq 0 ]; then
    cat > "$1" || die "cannot write $1" "check the disk and permissions"
    chmod "$2" "$1"
  else
    sed 's/^/      | /'
  fi
}

# In the emulated root (--emulated-root) apt cannot reach Raspberry Pi OS's archive: the Debian
# packages must already be there (check.sh installs PI_APT_DEBIAN); the Pi-only ones are stood in for.
emulated_apt_check() {
  local p missing=()
  echo "    \$ check /usr/share/doc/<package>/copyright for: $PI_APT_DEBIAN"
  [ "$dry_run" -eq 0 ] || return 0
  for p in $PI_APT_DEBIAN; do  # an extracted root has no dpkg database: every package ships its copyright
    [ -f "/usr/share/doc/$p/copyright" ] || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] || die "emulated root lacks ${missing[*]}" "tests/arm64/check.sh installs them; rebuild its root"
  echo "    (emulated root: $PI_APT_DEBIAN installed; $PI_APT_RPI stood in for)"
}

setup_pi() {
  [ "$dry_run" -eq 1 ] || [ "$(id -u)" -eq 0 ] || die "the car set-up needs root" "sudo ./setup.sh --pi"
  step "1. apt packages (picamera2 and numpy come from Raspberry Pi OS, not pip)"
  # robot_hat 2.5.3 imports smbus2 and lgpio (i2c.py, pin.py) and pyaudio (music.py) at import
  # time: without these three, `import picarx` fails. Raspberry Pi OS ships all three (lgpio
  # only in its own archive, not Debian's); the venv sees them through --system-site-packages.
  # shellcheck disable=SC2086  # the lists are words
  if [ "$emulated" -eq 1 ]; then
    emulated_apt_check
  else
    run apt-get update
    run apt-get install -y $PI_APT_DEBIAN $PI_APT_RPI
  fi
  step "2. I2C on (the Robot HAT's motors and servos)"
  if [ "$emulated" -eq 0 ] && { command -v raspi-config >/dev/null || [ "$dry_run" -eq 1 ]; }; then
    run raspi-config nonint do_i2c 0
  fi
  step "3. service user $SERVICE_USER in the gpio, i2c and video groups"
  if [ "$emulated" -eq 1 ]; then
    echo "    (emulated root: no user, no gpio/i2c groups; the check runs as root)"
  elif id "$SERVICE_USER" >/dev/null 2>&1; then
    echo "    (user exists)"
  else
    run useradd --system --home-dir "$STATE_DIR" --create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  [ "$emulated" -eq 1 ] || run usermod -aG gpio,i2c,video "$SERVICE_USER"
  if [ "$emulated" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    # the command socket is group $SERVICE_USER, mode 0660: let the installing user send commands
    run usermod -aG "$SERVICE_USER" "$SUDO_USER"
  fi
  step "4. virtual environment $VENV (with system site packages: apt's numpy and picamera2)"
  if [ -x "$VENV/bin/python" ]; then
    echo "    (exists)"
  else
    run python3 -m venv --system-site-packages "$VENV"
  fi
  step "5. Python packages (requirements.txt), never replacing apt's numpy"
  constraint="$(mktemp)"
  if [ "$dry_run" -eq 0 ]; then
    python3 -c "import numpy; print('numpy==' + numpy.__version__)" > "$constraint" \
      || die "apt's numpy is not importable" "sudo apt-get install --reinstall python3-numpy"
  fi
  run "$VENV/bin/python" -m pip install --quiet -r "$REPO/requirements.txt" -c "$constraint"
  if [ -n "$vendor_dir" ]; then
    step "6. SunFounder robot-hat and picar-x from $vendor_dir"
    install_vendor -c "$constraint"
  else
    step "6. SunFounder robot-hat $ROBOT_HAT_REF and picar-x $PICARX_REF from their git repositories"
    # Not from PyPI: the PyPI projects named robot-hat and vilib are unrelated to SunFounder's.
    run "$VENV/bin/python" -m pip install --quiet -c "$constraint" \
      "robot_hat @ git+https://github.com/sunfounder/robot-hat.git@$ROBOT_HAT_REF" \
      "picarx @ git+https://github.com/sunfounder/picar-x.git@$PICARX_REF"
  fi
  run "$VENV/bin/python" -m pip install --quiet --no-deps -e "$REPO"
  rm -f "$constraint"
  if [ "$dry_run" -eq 0 ]; then
    # robot_hat's import reads /proc/device-tree: an emulated root has none (the arm64 check
    # imports robot_hat against the emulated HAT instead)
    imports="smbus2, lgpio, pyaudio, robot_hat.pwm"
    [ "$emulated" -eq 1 ] && [ ! -e /proc/device-tree ] && imports="smbus2, lgpio, pyaudio"
    "$VENV/bin/python" -c "import $imports" \
      || die "the venv cannot import what robot_hat needs" "sudo apt-get install python3-smbus2 python3-lgpio python3-pyaudio"
    "$VENV/bin/python" -c "import cv2, numpy; assert cv2.TrackerKCF.create() is not None" \
      || die "OpenCV does not import (or has no KCF tracker)" "sudo apt-get install $PI_APT_DEBIAN; then run setup.sh again"
  fi
  step "7. detector model (sha256-checked, or vilib's identical copy)"
  install_assets
  step "8. picar-x's own calibration file $PICARX_CONF, owned by $SERVICE_USER"
  run mkdir -p "$(dirname "$PICARX_CONF")"
  if [ ! -f "$PICARX_CONF" ]; then
    echo "# robot-hat config and calibration value of robots" | write_file "$PICARX_CONF" 664
  fi
  [ "$emulated" -eq 1 ] || run chown -R "$SERVICE_USER:$SERVICE_USER" "$(dirname "$PICARX_CONF")"
  step "9. configuration $CONFIG_FILE (kept if it exists)"
  run mkdir -p "$(dirname "$CONFIG_FILE")"
  if [ ! -f "$CONFIG_FILE" ]; then
    printf '[robot]\nsocket = "/run/cat-follow/cat-follow.sock"\ncalibration = "%s"\n' "$CALIBRATION_FILE" \
      | write_file "$CONFIG_FILE" 644
  fi
  if [ "$emulated" -eq 1 ]; then
    echo "emulated root set up (no systemd unit)"
    return 0
  fi
  step "10. systemd unit (enabled; started once you have calibrated: systemctl start cat-follow)"
  sed -e "s|@REPO@|$REPO|g; s|@USER@|$SERVICE_USER|g; s|@CONFIG@|$CONFIG_FILE|g" "$REPO/systemd/cat-follow.service" \
    | write_file "$UNIT_FILE" 644
  run systemctl daemon-reload
  run systemctl enable cat-follow.service
  if [ "$dry_run" -eq 0 ] && command -v runuser >/dev/null \
      && ! runuser -u "$SERVICE_USER" -- test -x "$VENV/bin/python"; then
    echo "WARNING: $SERVICE_USER cannot reach $VENV (a home directory is not readable by others):"
    echo "         clone the repository to /opt/cat-follow and run setup.sh from there"
  fi
  echo "car set up. Next: calibrate (README, 'On the car'), then: sudo systemctl start cat-follow"
}

echo "cat_follow setup: mode=$mode${assets_src:+ assets=$assets_src}$([ "$dry_run" -eq 1 ] && echo ' (dry run)')"
case "$mode" in
  dev) setup_dev ;;
  pi) setup_pi ;;
esac
