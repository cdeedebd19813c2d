#!/usr/bin/env bash
# Boot a Debian root under systemd (systemd-nspawn), install the claim-edge units into it with
# `claim-edge service install`, and show what systemd does with them:
#   1. claim-edge-sync starts (Type=notify: active once the process says READY=1);
#   2. its process killed with SIGKILL is restarted (Restart=on-failure), new PID, NRestarts=1;
#   3. its process frozen with SIGSTOP stops feeding the watchdog and is killed and restarted
#      after WatchdogSec (set to 5 s here by a drop-in, 30 s in the shipped unit).
# The package is installed in the root as on a device: a venv in /opt/claim-edge with this
# checkout's wheel from pip. Needs root, systemd-container and debootstrap; the root is cached in
# .cache/nspawn/root (delete it to start over).      sudo tests/systemd/restart-check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
ROOT=$REPO/.cache/nspawn/root
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
[ "$(id -u)" = 0 ] || { echo "restart-check.sh: needs root" >&2; exit 2; }
command -v systemd-nspawn >/dev/null || apt-get install -y -q systemd-container
if [ ! -e "$ROOT/.complete" ]; then
  rm -rf "$ROOT"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,python3,libpython3.11 \
    bookworm "$ROOT" http://deb.debian.org/debian
  touch "$ROOT/.complete"
fi
rm -rf "$ROOT/tmp/dist" && "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$ROOT/tmp/dist" .
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mkdir -p "$ROOT/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca.crt"   # a TLS proxy's CA, if any
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "set -e
  python3 -c 'import ensurepip' 2>/dev/null || { apt-get update -q && apt-get install -y -q python3-venv; }
  [ -x /opt/claim-edge/.venv/bin/python ] || python3 -m venv /opt/claim-edge/.venv
  PIP_CERT=/etc/ssl/certs/host-ca.crt /opt/claim-edge/.venv/bin/pip install -q --force-reinstall --no-deps /tmp/dist/*.whl
  PIP_CERT=/etc/ssl/certs/host-ca.crt /opt/claim-edge/.venv/bin/pip install -q /tmp/dist/*.whl
  # One OpenCV, the headless one (a device has no X libraries; older releases pulled opencv-python).
  if /opt/claim-edge/.venv/bin/pip show -q opencv-python 2>/dev/null; then
    /opt/claim-edge/.venv/bin/pip uninstall -q -y opencv-python
    PIP_CERT=/etc/ssl/certs/host-ca.crt /opt/claim-edge/.venv/bin/pip install -q --force-reinstall --no-deps opencv-python-headless
  fi"
"$PY" -m edge.cli service install --profile kiosk-x86 --root "$ROOT" \
  --exec /opt/claim-edge/.venv/bin/claim-edge --units sync --enable
mkdir -p "$ROOT/etc/systemd/system/claim-edge-sync.service.d"
cat > "$ROOT/etc/systemd/system/claim-edge-sync.service.d/test.conf" <<'CONF'
[Service]
WatchdogSec=5
RestartSec=1
CONF
cat > "$ROOT/usr/local/bin/restart-check" <<'INNER'
#!/bin/bash
set -u
exec > >(tee /root/restart-check.log) 2>&1
pid() { systemctl show -P MainPID claim-edge-sync; }
state() { echo "  $(systemctl show -P ActiveState claim-edge-sync)/$(systemctl show -P SubState claim-edge-sync) MainPID=$(pid) NRestarts=$(systemctl show -P NRestarts claim-edge-sync)"; }
wait_active() { for _ in $(seq 120); do [ "$(systemctl show -P ActiveState claim-edge-sync)" = active ] && [ "$(pid)" != "$1" ] && [ "$(pid)" != 0 ] && return 0; sleep 0.5; done; return 1; }
echo "1. start"; wait_active 0 && echo "  active (READY=1 received)"; state
p=$(pid); echo "2. kill -9 $p"; kill -9 "$p"; sleep 0.3; state
wait_active "$p" && echo "  restarted: new MainPID $(pid)"; state
p=$(pid); echo "3. kill -STOP $p (hung: no WATCHDOG=1)"; kill -STOP "$p"; t0=$(date +%s)
wait_active "$p" && echo "  restarted by the watchdog after $(( $(date +%s) - t0 )) s: new MainPID $(pid)"; state
journalctl -b -u claim-edge-sync --no-pager -o short-monotonic | grep -E "watchdog|Main process exited|killed|Scheduled restart|Started" | head -20
systemctl poweroff
INNER
chmod +x "$ROOT/usr/local/bin/restart-check"
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
cat > "$ROOT/etc/systemd/system/restart-check.service" <<'UNIT'
[Unit]
Description=run the claim-edge restart check, then power off
After=claim-edge-sync.service
[Service]
Type=oneshot
ExecStart=/usr/local/bin/restart-check
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/restart-check.service "$ROOT/etc/systemd/system/multi-user.target.wants/"
rm -f "$ROOT/root/restart-check.log"
rm -rf "$ROOT/var/log/journal"
timeout 300 systemd-nspawn -q -D "$ROOT" --register=no --keep-unit --boot \
  > "$REPO/.cache/nspawn/console.log" 2>&1 || true
cat "$ROOT/root/restart-check.log"
grep -q "restarted: new MainPID" "$ROOT/root/restart-check.log" &&
  grep -q "restarted by the watchdog" "$ROOT/root/restart-check.log"
