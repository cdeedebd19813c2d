#!/usr/bin/env bash
# Prove that the package and every runtime dependency resolve to a binary wheel for a Python
# version and platform this machine cannot run, e.g. Python 3.10 on aarch64 (Jetson, JetPack 6 =
# Ubuntu 22.04, glibc 2.35):
#   tests/aarch64/resolve.sh 3.10 aarch64 2.35
# pip resolves from the registries as for that platform, only wheels allowed (--only-binary), and
# lists what it would install; nothing is installed. Exit status non-zero if anything lacks a wheel.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYVER=${1:?usage: resolve.sh PYTHON_VERSION [ARCH] [GLIBC], e.g. 3.10 aarch64 2.35}
ARCH=${2:-aarch64}
GLIBC=${3:-2.35}
# pip takes the platform tags literally: every manylinux tag that glibc accepts, oldest first.
PLATFORMS=(--platform "manylinux2014_$ARCH")
for minor in $(seq 17 "${GLIBC#2.}"); do PLATFORMS+=(--platform "manylinux_2_${minor}_$ARCH"); done
# Build the (pure-Python) wheel with this checkout's venv; resolve with $PYTHON when given: a real
# interpreter of that version also evaluates version markers (e.g. tomli on 3.10) as the device will.
BUILD_PY=${BUILD_PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
PY=${PYTHON:-$BUILD_PY}
OUT=.cache/resolve
mkdir -p "$OUT"
rm -rf "$OUT/dist" && "$BUILD_PY" -m pip wheel -q --no-deps --no-build-isolation -w "$OUT/dist" .
WHEEL=$(ls "$OUT"/dist/claim_edge-*.whl)
REPORT="$OUT/py$PYVER-$ARCH-glibc$GLIBC.json"
rm -rf "$OUT/target"
"$PY" -m pip install -q --dry-run --ignore-installed --only-binary=:all: \
  --python-version "$PYVER" --implementation cp "${PLATFORMS[@]}" \
  --target "$OUT/target" --report "$REPORT" "$WHEEL"
"$PY" - "$REPORT" "$PYVER" "$ARCH" "$GLIBC" <<'PYEOF'
import json, sys
items = json.load(open(sys.argv[1]))["install"]
for it in sorted(items, key=lambda i: i["metadata"]["name"].lower()):
    print(f'{it["metadata"]["name"]:28s} {it["metadata"]["version"]:12s} {it["download_info"]["url"].rsplit("/", 1)[-1]}')
print(f"{len(items)} packages, all wheels for Python {sys.argv[2]} {sys.argv[3]} glibc {sys.argv[4]}")
PYEOF
