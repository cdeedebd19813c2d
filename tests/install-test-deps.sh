#!/usr/bin/env bash
# What the tests need from Debian, installed if missing (README command 2 runs this first):
#   python3-venv    `python3 -m venv` (a bare Debian lacks it)
#   mosquitto       the sync/fleet tests start their own broker (never the system service)
#   chromium        the operator-screen browser tests (Playwright drives Debian's Chromium)
#   libatomic1      Playwright's bundled node driver needs it; a bare Debian lacks it
#   systemd         `systemd-analyze verify` on the service units (tests/test_service.py)
#   postgresql      only when nothing answers on 127.0.0.1:5432: a local cluster with database
#                   `test`, trust auth on loopback, as the sync tests expect
# Run as root or with sudo available. Idempotent: a machine that has everything is left alone.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-test-deps.sh: run as root (no sudo here)" >&2; exit 2; }
  exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
need=()
python3 -c "import ensurepip, venv" 2>/dev/null || need+=(python3-venv)
{ command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; } && command -v mosquitto_passwd \
  >/dev/null || need+=(mosquitto)
[ -x /usr/bin/chromium ] || need+=(chromium)
ldconfig -p | grep -q 'libatomic\.so\.1 ' || need+=(libatomic1)
command -v systemd-analyze >/dev/null || need+=(systemd)
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up && ! ls /etc/postgresql/*/main >/dev/null 2>&1; then need+=(postgresql); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "install-test-deps.sh: installing ${need[*]}"
  apt-get update -q && apt-get install -y -q --no-install-recommends "${need[@]}"
fi
if ! pg_up; then
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null \
    || pg_ctlcluster "$ver" main start
  for _ in $(seq 30); do pg_up && break; sleep 1; done
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    pg_ctlcluster "$ver" main reload
  fi
fi
if command -v psql >/dev/null && ! psql -h 127.0.0.1 -U postgres -Atc "select 1" test >/dev/null 2>&1; then
  su postgres -c "createdb test" 2>/dev/null || psql -h 127.0.0.1 -U postgres -c "create database test" || true
fi
echo "install-test-deps.sh: mosquitto, chromium, systemd-analyze and PostgreSQL at 127.0.0.1:5432 ready"
