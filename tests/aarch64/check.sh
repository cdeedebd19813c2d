#!/usr/bin/env bash
# aarch64, proven: build an arm64 Debian root (debootstrap + qemu-user-static via binfmt), install
# the project's wheel there with pip from the registries, run `claim-edge doctor`, `analyze --json`
# on the sample photos (generated + the demo photos) and the non-slow tests that need no service
# (those marked `ocr`, which read whole pages, are left to analyze: emulated, a page read takes
# minutes to an hour against a second natively), then compare the arm64 analysis with x86-64's
# (tests/aarch64/compare.py: same labels, scenarios, detections, fields; scores within its
# tolerance).
#
#   sudo tests/aarch64/check.sh            # bookworm (Python 3.11, as on Raspberry Pi OS Bookworm)
#   SUITE=trixie sudo tests/aarch64/check.sh   # Python 3.13
#
# Needs root (debootstrap, chroot, binfmt). The root is cached in .cache/aarch64/ (git-ignored);
# delete it to start over. Emulated, a run takes tens of minutes on 2 cores: see README "aarch64".
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
SUITE=${SUITE:-bookworm}
CACHE=$REPO/.cache/aarch64
ROOT=$CACHE/$SUITE-root
OUT=$CACHE/$SUITE-out
X86_PY=${X86_PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
# The tests that need no service: not those with the broker/PostgreSQL harness (sync_fixtures),
# the browser, the web server, the systemd verifier, or training (torch is not installed here).
SERVICE_TESTS=$(grep -l "sync_fixtures" tests/test_*.py || true)
PYTEST_SELECT=(tests -m "not slow and not ocr" -p no:cacheprovider --durations=10
  --ignore=tests/aarch64 --ignore=tests/test_fleet.py --ignore=tests/test_web_browser.py
  --ignore=tests/test_web_server.py --ignore=tests/test_train_e2e.py
  --ignore=tests/test_train_toolkit.py
  --deselect=tests/test_service.py::test_systemd_analyze_verify_accepts_the_units)
for t in $SERVICE_TESTS; do PYTEST_SELECT+=("--ignore=$t"); done
T0=$(date +%s)
step() { echo "== [$(( $(date +%s) - T0 )) s] $*"; }

[ "$(id -u)" = 0 ] || { echo "check.sh: needs root (debootstrap, chroot)" >&2; exit 2; }
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]} from Debian"
  apt-get update -q && apt-get install -y -q "${need[@]}"
fi
# Let the kernel run arm64 binaries through qemu (F: the interpreter is opened now, so it works
# inside the chroot too).
[ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
fi

mkdir -p "$CACHE" "$OUT"
if [ ! -e "$ROOT/.complete" ]; then
  step "debootstrap arm64 $SUITE into $ROOT (minutes, emulated)"
  rm -rf "$ROOT"
  debootstrap --arch=arm64 --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates "$SUITE" "$ROOT" \
    http://deb.debian.org/debian
  touch "$ROOT/.complete"
fi

cleanup() {
  for m in dev/pts dev proc sys; do mountpoint -q "$ROOT/$m" && umount -l "$ROOT/$m" || true; done
}
trap cleanup EXIT
mount -t proc proc "$ROOT/proc"
# /sys stays unmounted: XNNPACK reading the x86 host topology there crashed under qemu (SIGSEGV)
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# A TLS-inspecting proxy's CA, if the host trusts one, so pip can reach the registries.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca.crt"

step "building the wheel on the host"
rm -rf "$CACHE/dist" && "$X86_PY" -m pip wheel -q --no-deps --no-build-isolation -w "$CACHE/dist" . 
WHEEL=$(basename "$CACHE"/dist/claim_edge-*.whl)
rm -rf "$ROOT/work" && mkdir -p "$ROOT/work/home"
cp "$CACHE/dist/$WHEEL" "$ROOT/work/"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$ROOT/work" --one-top-level=src

# The emulated CPU: a Cortex-A72, the Raspberry Pi 4's core. qemu's default ("max", with SVE/SME)
# crashed ai-edge-litert 2.3's kernels (SIGSEGV in doctor's model load) under Debian's qemu 7.2.
QEMU_CPU=${QEMU_CPU:-cortex-a72}
in_root() {
  chroot "$ROOT" /usr/bin/env -i QEMU_CPU="$QEMU_CPU" HOME=/work/home PATH=/opt/venv/bin:/usr/bin:/bin \
    PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 /bin/bash -c "$1"
}
step "uname -m / python in the root: $(in_root 'uname -m; python3 --version' | tr '\n' ' ')"
step "pip install the wheel (and pytest) from the registries"
in_root "[ -x /opt/venv/bin/python ] || python3 -m venv /opt/venv
         pip install -q --force-reinstall --no-deps /work/$WHEEL &&
         pip install -q /work/$WHEEL pytest 'hypothesis>=6.100,<7' && pip check && pip list --format=freeze" > "$OUT/pip-freeze.txt"
grep -iE '^(claim-edge|numpy|opencv|ai-edge-litert|onnxruntime|rapidocr)' "$OUT/pip-freeze.txt"

step "claim-edge doctor"
in_root "cd /work && claim-edge doctor" | tee "$OUT/doctor.txt"

step "analyze --json on the sample photos (arm64)"
in_root "cd /work && rm -rf samples demo && claim-edge samples --drawn samples >/dev/null &&
         claim-edge samples demo >/dev/null &&
         claim-edge analyze --json samples demo" > "$OUT/analyze-arm64.jsonl" || true
step "analyze --json on the same photos (x86-64, $X86_PY)"
"$X86_PY" -m edge.cli analyze --json "$ROOT/work/samples" "$ROOT/work/demo" \
  > "$OUT/analyze-x86_64.jsonl" || true
"$X86_PY" tests/aarch64/compare.py "$OUT/analyze-x86_64.jsonl" "$OUT/analyze-arm64.jsonl" \
  | tee "$OUT/compare.txt"

step "non-slow tests that need no service (arm64, from the source tree, the wheel's dependencies)"
in_root "cd /work/src && python -m pytest -q $(printf '%q ' "${PYTEST_SELECT[@]}")" | tee "$OUT/pytest.txt" | tail -5
step "done: aarch64 $SUITE passed (outputs in $OUT)"
