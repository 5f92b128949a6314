#!/usr/bin/env bash
# The car's install, proven on its CPU and userland: an arm64 Debian Bookworm root run under
# qemu-user (QEMU_CPU=cortex-a72: a Pi 4's ARMv8.0 core, so a wheel using newer instructions
# dies with SIGILL here as on the car). Run as root on an x86_64 Debian machine (CI runs it):
#
#   tests/arm64/check.sh            one 'PASS name' / 'FAIL name: why' line per check, then
#                                   'arm64 check: N passed, M failed'; exit 1 on any failure
#
# What it does:
# - installs mmdebstrap, qemu-user-static and arch-test from apt, and registers qemu's aarch64
#   handler with binfmt_misc (the F flag: the root needs no qemu binary of its own);
# - builds the root with `mmdebstrap --variant=extract` (30-60 s; running maintainer scripts
#   under emulation takes 10x longer) from Debian's archive with setup.sh's PI_APT_DEBIAN and a
#   shell, then does what those scripts would have (/bin/sh, BLAS/LAPACK alternatives,
#   passwd); cached in $CAT_FOLLOW_ARM64_CACHE (~/.cache/cat-follow-arm64) keyed by that list;
# - downloads requirements.txt's arm64 wheels with the host's pip (binary only, cached), so pip
#   in the root resolves offline (the car resolves the same pins from PyPI);
# - in a private mount namespace, overlays a scratch layer on the cached root (which stays
#   untouched), copies the working tree to /opt/cat-follow and ../shared's assets and vendor to
#   /opt/shared, mounts proc, sys, dev and the wheels, and a Pi 4's /proc/cpuinfo (qemu 7.2 shows
#   the host's x86 one, whose parsing crashes onnxruntime 1.32's cpuinfo library: SIGSEGV), and
#   runs `setup.sh --pi --emulated-root` in it (chroot). What setup.sh made (venv, assets) is
#   cached as a layer keyed by the root, the wheels, setup.sh, requirements.txt, pyproject.toml
#   and ../shared/vendor: a warm run with none of them changed reuses it and says so
#   (CAT_FOLLOW_ARM64_FRESH=1 runs setup.sh anyway); the code itself is always this tree's;
# - stands in for Raspberry Pi OS's python3-lgpio with tests/hat_emulator (Debian has none;
#   picamera2/libcamera are imported only when the real camera opens, which needs a Pi);
# - checks: every cat_follow module imports; each model a manifest marks `pi = true` gives the
#   same boxes (scores) as on x86 (tests/arm64/probe.py, the host venv .venv on the same
#   frames); KCF; SunFounder's picarx against the emulated HAT (tests/test_picarx_hat.py);
#   `cat-follow run --sim` with the detector in process mode for 10 s, `send status` and
#   `send stop` answered, Ctrl-C ends it with status 130.
# Emulation says nothing about speed (docs/pi_budget.md).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="${CAT_FOLLOW_SHARED:-$REPO/../shared}"
CPU="${CAT_FOLLOW_ARM64_CPU:-cortex-a72}"
CACHE="${CAT_FOLLOW_ARM64_CACHE:-$HOME/.cache/cat-follow-arm64}"
SUITE=bookworm
MIRRORS=("deb http://deb.debian.org/debian $SUITE main"
         "deb http://deb.debian.org/debian $SUITE-updates main"
         "deb http://deb.debian.org/debian-security $SUITE-security main")
# Essential packages every Debian and Raspberry Pi OS system has (an extract root has only what it
# is told): setup.sh's shell tools, /bin/sh, `which` (robot_hat runs it), passwd, ldconfig
BASE_PACKAGES="bash dash coreutils debianutils grep sed findutils mawk base-passwd libc-bin"
ROOT_LAYOUT=1   # bump when the fix-ups below change: a new cache key
HOST_PY="$REPO/.venv/bin/python"   # setup.sh --dev's venv: the x86 side of the comparison
t_start=$SECONDS

note() { echo "arm64: $*" >&2; }
fatal() {  # a failure before any check ran: still the closing line CI reads
  echo "FAIL arm64 set-up: $1"
  echo "arm64 check: 0 passed, 1 failed"
  exit 1
}

# ---- inside the private mount namespace (the script calls itself with --inside WORK) --------
inside() {
  WORK="$1"; ROOT="$WORK/root"; RES="$WORK/results"
  LOWER="$(cat "$WORK/lower")"; LAYER="$(cat "$WORK/layer")"
  pass() { echo "PASS $*" | tee -a "$RES"; }
  fail() { echo "FAIL $*" | tee -a "$RES"; }
  mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$WORK/upper,workdir=$WORK/ovl" "$ROOT" \
    || { fail "overlay mount of the cached root"; exit 0; }
  mkdir -p "$ROOT/opt/wheels" "$ROOT/opt/standins" "$ROOT/opt/shared" "$ROOT/opt/cat-follow"
  if ! { mount -t proc proc "$ROOT/proc" && mount --rbind /sys "$ROOT/sys" && mount --rbind /dev "$ROOT/dev" \
      && mount --bind "$WORK/cpuinfo" "$ROOT/proc/cpuinfo" && mount --bind "$WORK/wheels" "$ROOT/opt/wheels"; }; then
    fail "mounts: proc, sys, dev, cpuinfo, wheels"; exit 0
  fi
  # this working tree (what setup.sh made stays: the venv, its editable install, the assets)
  find "$ROOT/opt/cat-follow" -mindepth 1 -maxdepth 1 ! -name .venv ! -name assets ! -name '*.egg-info' \
    -exec rm -rf {} +
  (cd "$REPO" && git ls-files -co --exclude-standard -z | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) \
    | tar -xf - -C "$ROOT/opt/cat-follow" || { fail "copy of the working tree"; exit 0; }
  rm -rf "$ROOT/opt/shared/assets" "$ROOT/opt/shared/vendor"
  cp -R "$SHARED/assets" "$SHARED/vendor" "$ROOT/opt/shared/" && chmod -R u+w "$ROOT/opt/shared"
  # Raspberry Pi OS's python3-lgpio, which Debian lacks: the tests' stand-in (and the emulated HAT it drives)
  cp "$REPO/tests/hat_emulator/lgpio.py" "$REPO/tests/hat_emulator/hat.py" "$ROOT/opt/standins/"
  export QEMU_CPU="$CPU"
  # in_root CMD...: run in the root as the car would (its PATH and HOME), pip offline, the lgpio
  # stand-in on the path, nothing else of the host's environment
  in_root() {
    chroot "$ROOT" /usr/bin/env -i QEMU_CPU="$CPU" HOME=/root LANG=C.UTF-8 TERM=dumb \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONPATH=/opt/standins \
      PIP_NO_INDEX=1 PIP_FIND_LINKS=/opt/wheels PIP_ONLY_BINARY=:all: PIP_NO_CACHE_DIR=1 \
      PIP_DISABLE_PIP_VERSION_CHECK=1 CAT_FOLLOW_ASSETS=/opt/cat-follow/assets "$@"
  }
  cd_repo=(/usr/bin/env --chdir=/opt/cat-follow)
  VPY=/opt/cat-follow/.venv/bin/python
  versions() {
    in_root $VPY -c 'import cv2, onnxruntime, ai_edge_litert, numpy, sys; print("python", sys.version.split()[0], "numpy", numpy.__version__, "opencv", cv2.__version__, "onnxruntime", onnxruntime.__version__)' 2>&1 | tail -1
  }

  t0=$SECONDS
  if [ -f "$LAYER/.complete" ]; then
    pass "setup.sh --pi --emulated-root: its result reused (same root, wheels, setup.sh, requirements, vendor as on $(cat "$LAYER/.complete")); $(versions)"
  elif in_root "${cd_repo[@]}" timeout 1200 bash ./setup.sh --pi --emulated-root --assets ../shared/assets \
      --vendor ../shared/vendor > "$WORK/setup.log" 2>&1; then
    pass "setup.sh --pi --emulated-root ($((SECONDS - t0)) s); $(versions)"
    # keep what it made for warm runs: the scratch layer without this tree's sources
    rm -rf "$LAYER.tmp" && cp -a "$WORK/upper" "$LAYER.tmp" \
      && find "$LAYER.tmp/opt/cat-follow" -mindepth 1 -maxdepth 1 ! -name .venv ! -name assets \
        ! -name '*.egg-info' -exec rm -rf {} + \
      && rm -rf "$LAYER.tmp/opt/wheels" "$LAYER.tmp/opt/shared" "$LAYER.tmp/opt/standins" \
      && date -u +%FT%TZ > "$LAYER.tmp/.complete" && mv "$LAYER.tmp" "$LAYER" \
      || echo "arm64: could not cache the set-up layer (next run repeats setup.sh)" >&2
  else
    fail "setup.sh --pi --emulated-root: $(grep -m1 FAILED "$WORK/setup.log" || tail -1 "$WORK/setup.log") (log: $WORK/setup.log)"
    exit 0   # nothing else can run without the venv
  fi

  t0=$SECONDS
  cp "$WORK/frame.png" "$ROOT/tmp/frame.png"
  if in_root "${cd_repo[@]}" timeout 900 $VPY tests/arm64/probe.py run /opt/cat-follow/assets /tmp/frame.png \
      > "$WORK/arm.json" 2>"$WORK/probe.err"; then
    echo "arm64 probe: $((SECONDS - t0)) s" >&2
    while kill -0 "$(cat "$WORK/x86.pid")" 2>/dev/null; do sleep 1; done  # the host's probe
    if [ -s "$WORK/x86.json" ]; then
      "$HOST_PY" "$REPO/tests/arm64/probe.py" compare "$WORK/x86.json" "$WORK/arm.json" | tee -a "$RES"
    else
      fail "x86 side of the comparison: no result ($(tail -1 "$WORK/x86.err" 2>/dev/null))"
    fi
  else
    fail "models on arm64: probe.py run exited $? ($(tail -1 "$WORK/probe.err"))"
  fi

  # SunFounder's real picarx and robot_hat against the emulated HAT: the tests' own file; pytest
  # goes into the venv for this only (the car has no use for it)
  t0=$SECONDS
  in_root $VPY -m pip install --quiet pytest > "$WORK/hat.log" 2>&1
  if in_root "${cd_repo[@]}" timeout 600 $VPY -m pytest -q -p no:cacheprovider tests/test_picarx_hat.py >> "$WORK/hat.log" 2>&1; then
    pass "picarx drives the emulated HAT: tests/test_picarx_hat.py $(grep -Eo '[0-9]+ passed' "$WORK/hat.log" | tail -1) ($((SECONDS - t0)) s)"
  else
    fail "picarx on the emulated HAT: $(tail -1 "$WORK/hat.log") (log: $WORK/hat.log)"
  fi

  # the service, simulated car, detector in its own process: 10 s, status, stop, Ctrl-C
  # process mode; emulation is slow, so the detector process gets the time to start and compute
  # that a Pi never needs (detector.start_timeout_s, hang_timeout_s), and the service's own
  # priority: at 10 nice levels below, on a loaded host, its first job never ended
  printf '[detector]\nmode = "process"\nstart_timeout_s = 600.0\nhang_timeout_s = 60.0\n[process]\ndetector_nice = 0\n' \
    > "$ROOT/opt/cat-follow/arm64-process.toml"
  sock=/tmp/cat-follow-arm64.sock
  # systemd's side of Type=notify: READY=1 comes once camera, tracker and detector are up
  rm -f "$ROOT/tmp/notify.sock"
  "$HOST_PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(600)
while "READY=1" not in (m := s.recv(4096).decode()): pass
print(m.replace("\n", " "), flush=True)' "$ROOT/tmp/notify.sock" > "$WORK/ready" 2>&1 &
  notify_pid=$!
  until [ -S "$ROOT/tmp/notify.sock" ]; do sleep 0.2; done
  # its own process group, so that Ctrl-C (SIGINT to the group) reaches it as from a terminal
  setsid chroot "$ROOT" /usr/bin/env -i --chdir=/opt/cat-follow QEMU_CPU="$CPU" HOME=/root LANG=C.UTF-8 \
    PATH=/usr/bin:/bin NOTIFY_SOCKET=/tmp/notify.sock timeout 900 .venv/bin/cat-follow run --sim \
    --config arm64-process.toml --socket "$sock" > "$WORK/run.log" 2>&1 &
  run_pid=$!
  t0=$SECONDS
  until [ -s "$WORK/ready" ] || [ $((SECONDS - t0)) -ge 600 ] || ! kill -0 "$run_pid" 2>/dev/null; do sleep 1; done
  if [ -s "$WORK/ready" ]; then
    started=$((SECONDS - t0))
    sleep 10
    status="$(in_root "${cd_repo[@]}" timeout 300 .venv/bin/cat-follow send --socket "$sock" status 2>&1)"
    answer="$(in_root "${cd_repo[@]}" timeout 300 .venv/bin/cat-follow send --socket "$sock" stop 2>&1)"
    kill -INT -- "-$run_pid"   # Ctrl-C
    t1=$SECONDS; wait "$run_pid"; rc=$?
    state="$(echo "$status" | "$HOST_PY" -c 'import json, sys; d = json.load(sys.stdin); print(d["state"])' 2>/dev/null)"
    detail="ready after ${started} s ($(cat "$WORK/ready")), status state '${state}', stop '$answer', exit $rc after $((SECONDS - t1)) s"
    if [ -n "$state" ] && [ "$answer" = OK ] && [ "$rc" -eq 130 ] && ! grep -q Traceback "$WORK/run.log"; then
      pass "cat-follow run --sim (detector process) 10 s: $detail"
    else
      fail "cat-follow run --sim (detector process): $detail; status: ${status:0:300} (log: $WORK/run.log)"
    fi
  else
    kill -INT -- "-$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null
    fail "cat-follow run --sim: not ready within 600 s: $(grep -m1 -E 'Error|error' "$WORK/run.log" || tail -1 "$WORK/run.log")"
  fi
  kill "$notify_pid" 2>/dev/null
  exit 0
}

# ---- on the host ---------------------------------------------------------------------------
# fix_root DIR: what the maintainer scripts of an installed system would have done (idempotent):
# /bin/sh, the `which` and BLAS/LAPACK alternatives, /etc/passwd and /etc/group, mount points
fix_root() {
  local r="$1" lib="$1/usr/lib/aarch64-linux-gnu" f
  [ -e "$r/bin/sh" ] || ln -s dash "$r/bin/sh"
  [ -e "$r/usr/bin/which" ] || ln -s which.debianutils "$r/usr/bin/which"
  [ -e "$lib/libblas.so.3" ] || ln -s blas/libblas.so.3 "$lib/libblas.so.3"
  [ -e "$lib/liblapack.so.3" ] || ln -s lapack/liblapack.so.3 "$lib/liblapack.so.3"
  for f in passwd group; do
    [ -s "$r/etc/$f" ] || cp "$r/usr/share/base-passwd/$f.master" "$r/etc/$f"
  done
  mkdir -p "$r/proc" "$r/sys" "$r/dev" "$r/opt"
}

host() {
[ "$(id -u)" -eq 0 ] || fatal "needs root (apt-get, mounts, chroot)"
[ "$(uname -m)" = x86_64 ] || fatal "written for an x86_64 host, this is $(uname -m)"
[ -d "$SHARED/assets" ] && [ -d "$SHARED/vendor" ] || fatal "$SHARED has no assets/ and vendor/"
[ -x "$HOST_PY" ] || fatal "$HOST_PY missing: run ./setup.sh --dev --assets ../shared/assets first"

need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v arch-test >/dev/null || need+=(arch-test)
if [ "${#need[@]}" -gt 0 ]; then
  note "apt-get install ${need[*]}"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"; } \
    > /tmp/cat-follow-arm64-apt.log 2>&1 || fatal "apt-get install ${need[*]} failed (/tmp/cat-follow-arm64-apt.log)"
fi
BINFMT=/proc/sys/fs/binfmt_misc
[ -e "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT" \
  || fatal "binfmt_misc cannot be mounted: arm64 programs cannot run here"
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$BINFMT/register" || fatal "cannot register qemu-aarch64 with binfmt_misc"
fi
grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" || fatal "the qemu-aarch64 binfmt handler lacks the F flag (chroot needs it)"

# ---- the root, cached by its package list ----
pi_apt="$(sed -n 's/^PI_APT_DEBIAN="\(.*\)"$/\1/p' "$REPO/setup.sh")"
[ -n "$pi_apt" ] || fatal "setup.sh has no PI_APT_DEBIAN line"
packages="$(echo "$BASE_PACKAGES $pi_apt" | tr ' ' '\n' | sort -u | tr '\n' ' ')"
key="$(echo "$SUITE $ROOT_LAYOUT $packages" | sha256sum | cut -c1-16)"
base="$CACHE/root-$key"
mkdir -p "$CACHE"
if [ ! -f "$base/.complete" ]; then
  t0=$SECONDS
  rm -rf "$base" "$base.tmp"
  # shellcheck disable=SC2086  # the list is words
  mmdebstrap --variant=extract --arch=arm64 --include="$(echo $packages | tr ' ' ',')" \
    "$SUITE" "$base.tmp" "${MIRRORS[@]}" > "$CACHE/mmdebstrap.log" 2>&1 \
    || fatal "mmdebstrap failed: $(tail -1 "$CACHE/mmdebstrap.log") ($CACHE/mmdebstrap.log)"
  fix_root "$base.tmp"
  QEMU_CPU="$CPU" chroot "$base.tmp" /sbin/ldconfig || fatal "ldconfig in the new root failed"
  touch "$base.tmp/.complete" && mv "$base.tmp" "$base"
  find "$CACHE" -maxdepth 1 -name 'root-*' ! -name "root-$key" -exec rm -rf {} +  # older lists
  note "root built in $((SECONDS - t0)) s"
else
  fix_root "$base"   # the same fix-ups, for a root cached before one was added
  note "root reused from $base"
fi

# ---- the arm64 wheels: the pins of requirements.txt with apt's numpy as the constraint ----
numpy_v="$(QEMU_CPU="$CPU" chroot "$base" /usr/bin/python3 -B -c 'import numpy; print(numpy.__version__)')" \
  || fatal "apt's numpy does not import in the root"
extra="setuptools wheel readchar pytest"  # building robot-hat/picar-x, picar-x's one dependency, the HAT test
reqs="$(grep -v '^ *#' "$REPO/requirements.txt")"   # its pins: a comment changes nothing
wkey="$(echo "$reqs $numpy_v $extra" | sha256sum | cut -c1-16)"
wheels="$CACHE/wheels-$wkey"
if [ ! -f "$wheels/.complete" ]; then
  t0=$SECONDS
  rm -rf "$wheels"; mkdir -p "$wheels"
  # shellcheck disable=SC2086
  "$HOST_PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: -d "$wheels" \
    --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp \
    -r "$REPO/requirements.txt" -c <(echo "numpy==$numpy_v") $extra > "$CACHE/pip.log" 2>&1 \
    || fatal "pip download of the arm64 wheels failed: $(tail -1 "$CACHE/pip.log")"
  touch "$wheels/.complete"
  find "$CACHE" -maxdepth 1 -name 'wheels-*' ! -name "wheels-$wkey" -exec rm -rf {} +
  note "wheels downloaded in $((SECONDS - t0)) s"
fi

# ---- the set-up layer: what setup.sh --pi made, keyed by everything it reads ----
skey="$( { echo "$key $wkey"; cat "$REPO/setup.sh" "$REPO/pyproject.toml";
          (cd "$SHARED/vendor" && find . -type f ! -path '*/build/*' ! -path '*egg-info*' -print0 | sort -z \
            | xargs -0 sha256sum); } | sha256sum | cut -c1-16)"
layer="$CACHE/setup-$skey"
if [ -n "${CAT_FOLLOW_ARM64_FRESH:-}" ] || [ ! -f "$layer/.complete" ]; then
  rm -rf "$layer"
  find "$CACHE" -maxdepth 1 -name 'setup-*' ! -name "setup-$skey" -exec rm -rf {} +
  lower="$base"
else
  lower="$layer:$base"
fi

# ---- a scratch layer over the cached root ----
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cat-follow-arm64.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/root" "$WORK/upper" "$WORK/ovl" "$WORK/wheels"
echo "$lower" > "$WORK/lower"
echo "$layer" > "$WORK/layer"
cp -al "$wheels/." "$WORK/wheels/"
# A Pi 4's /proc/cpuinfo (4 Cortex-A72 cores, MIDR 0x410fd083), as its kernel prints it
for i in 0 1 2 3; do
  printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$i"
done > "$WORK/cpuinfo"
printf 'Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n' >> "$WORK/cpuinfo"
: > "$WORK/results"

# the x86 side of the comparison, meanwhile (same script, same frames, the host's venv)
"$HOST_PY" "$REPO/tests/arm64/probe.py" frame "$SHARED/assets" "$WORK/frame.png" || fatal "cannot decode the video frame on x86"
nice -n 5 "$HOST_PY" "$REPO/tests/arm64/probe.py" run "$SHARED/assets" "$WORK/frame.png" > "$WORK/x86.json" 2>"$WORK/x86.err" &
echo $! > "$WORK/x86.pid"

note "root ready after $((SECONDS - t_start)) s; running in it (QEMU_CPU=$CPU)"
unshare --mount --propagation private bash "$0" --inside "$WORK"
wait 2>/dev/null
passed="$(grep -c '^PASS' "$WORK/results")"
failed="$(grep -c '^FAIL' "$WORK/results")"
[ "$passed" -gt 0 ] || { failed=$((failed + 1)); echo "FAIL arm64: no check passed"; }
if [ "$failed" -gt 0 ] && [ -n "${CAT_FOLLOW_ARM64_KEEP:-}" ]; then
  trap - EXIT; note "kept $WORK for a look"
fi
note "total $((SECONDS - t_start)) s"
echo "arm64 check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
}

# whole functions are read before they run: editing this file during a run cannot derail it
if [ "${1:-}" = --inside ]; then inside "$2"; else host; fi; exit $?
