"""Entry points wired into the ``claim-edge`` CLI: ``sync``, ``sync status``, ``central``.

Each takes an argv list (without the sub-command name) and returns an exit status.
Also runnable as ``python -m sync sync ...`` / ``python -m sync central ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import socket
import sys

from .settings import BrokerSettings

EXIT_TIMEOUT = 3
EXIT_CREDENTIALS = 4     # the broker refused the credentials: a person must fix a setting


def _broker_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("broker (overrides the profile's [broker] table)")
    g.add_argument("--host")
    g.add_argument("--port", type=int)
    g.add_argument("--username", help="MQTT username (= device id for a device)")
    g.add_argument("--password-env", help="name of the environment variable holding the password")
    g.add_argument("--password-file", help="file whose first line is the password")
    g.add_argument("--tls", action="store_true", default=None)
    g.add_argument("--ca-file", help="CA certificate that signed the broker's (TLS)")
    g.add_argument("--cert-file", help="client certificate (mTLS; implies --tls; without "
                   "--username the broker takes the device id from its CN)")
    g.add_argument("--key-file", help="the client certificate's private key")
    g.add_argument("--keepalive", type=int)
    g.add_argument("--client-id")


def _broker_from_args(a, base: BrokerSettings) -> BrokerSettings:
    return base.override(host=a.host, port=a.port, username=a.username,
                         password_env=a.password_env, password_file=a.password_file,
                         tls=a.tls, ca_file=a.ca_file, cert_file=a.cert_file,
                         key_file=a.key_file, keepalive=a.keepalive, client_id=a.client_id)


def _profile_settings(name: str | None):
    """(BrokerSettings, store path, device id) from the device profile, or defaults when the
    profile cannot be loaded and flags must say everything."""
    try:
        from edge.config import load_profile
        prof = load_profile(name)
    except Exception as e:  # noqa: BLE001 - no profile: flags decide
        if name:
            raise SystemExit(f"claim-edge sync: cannot load profile {name!r}: {e}")
        return BrokerSettings(), None, None
    b = prof.broker
    settings = BrokerSettings.from_config(b, prof.device.id)
    return settings, str(prof.store.resolved), prof.device.id


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)


def main_sync(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["status"]:
        return _sync_status(argv[1:])
    p = argparse.ArgumentParser(prog="claim-edge sync",
                                description="Drain the outbox to central over MQTT (exactly once).")
    p.add_argument("--profile", help="device profile (firmware_config/NAME.toml)")
    p.add_argument("--store", help="store database (default: the profile's [store] path)")
    p.add_argument("--until-empty", action="store_true",
                   help="exit once nothing is pending or in flight (one-shot)")
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 3)")
    p.epilog = ("exit status: 0 done, 3 --timeout reached, 4 the broker refused the credentials "
                "(--until-empty; the message names the setting to fix)")
    p.add_argument("--record-window", type=int, default=64,
                   help="records sent and awaiting central's ack (default 64)")
    p.add_argument("--window-mb", type=float, default=64,
                   help="and at most this many MB of their images (default 64)")
    p.add_argument("--publish-window", type=int, default=32)
    p.add_argument("--ack-timeout", type=float, default=20.0)
    p.add_argument("--max-image-mb", type=float, default=256)
    p.add_argument("--log-level", default="INFO")
    _broker_flags(p)
    a = p.parse_args(argv)
    _logging(a.log_level)
    from edge.service.notify import Notifier

    from .device.worker import SyncOptions, SyncWorker
    base, store_path, device = _profile_settings(a.profile)
    broker = _broker_from_args(a, base)
    if a.cert_file and not a.username:      # the certificate names the device
        broker = dataclasses.replace(broker, username=None, password_env=None,
                                     password_file=None)
    store_path = a.store or store_path
    if not store_path:
        p.error("--store is required without a profile")
    opts = SyncOptions(record_window=a.record_window, window_bytes=int(a.window_mb * 2**20),
                       publish_window=a.publish_window,
                       ack_timeout=a.ack_timeout, max_image_bytes=int(a.max_image_mb * 2**20))
    try:
        device = broker.username or broker.identity() or device
    except (OSError, ValueError) as e:
        print(f"claim-edge sync: cannot read the client certificate {broker.cert_file}: {e}",
              file=sys.stderr)
        return EXIT_CREDENTIALS
    worker = SyncWorker(store_path, broker, opts, device=device)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    notifier = Notifier()
    notifier.ready(f"syncing {store_path}")
    stats = worker.run(until_empty=a.until_empty, max_seconds=a.timeout, tick=notifier.kick)
    notifier.stopping()
    print(json.dumps({"sync": stats}, sort_keys=True), flush=True)
    if stats.get("credentials_refused"):
        print(f"claim-edge sync: {stats['credentials_refused']}", file=sys.stderr)
        return EXIT_CREDENTIALS
    return 3 if stats.get("timed_out") else 0


def _sync_status(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="claim-edge sync status",
                                description="Outbox counts and the oldest pending age.")
    p.add_argument("--profile")
    p.add_argument("--store")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    from .device.worker import outbox_status
    _b, store_path, _d = _profile_settings(a.profile)
    store_path = a.store or store_path
    if not store_path:
        p.error("--store is required without a profile")
    st = outbox_status(store_path)
    if a.json:
        print(json.dumps(st, sort_keys=True))
        return 0
    age = st["oldest_pending_age_s"]
    print(f"pending {st['pending']}  in-flight {st['inflight']}  acked {st['acked']}  "
          f"quarantined {st['quarantined']}  oldest pending "
          f"{'-' if age is None else f'{age:.0f} s'}")
    for q in st["quarantined_recent"]:
        print(f"  quarantined {q['record_uuid']}: {q['reason']}")
    return 0


def main_central(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["devices"], ["rejected"]):
        from .central.report import main as report_main
        return report_main(argv[0], argv[1:])
    from .central.tools import VERBS
    if argv[:1] and argv[0] in VERBS:
        from .central.tools import main as tools_main
        return tools_main(argv)
    p = argparse.ArgumentParser(prog="claim-edge central",
                                description="Central ingest service: MQTT -> database, acked "
                                            "after commit; malformed messages are dead-lettered "
                                            "in rejected_message.",
                                epilog="also: `claim-edge central devices` (each device's last "
                                       "telemetry), `claim-edge central rejected` (the dead "
                                       "letters), `central report` (drift per device and model "
                                       "version), `central review`, `central export-labels` "
                                       "(corrections as training data)")
    p.add_argument("--db", default="sqlite:///central.db",
                   help="postgresql://user[:pw]@host[:port]/db[?schema=NAME] or sqlite:///PATH")
    p.add_argument("--blobs", default="central-blobs", help="content-addressed image directory")
    p.add_argument("--broker", help="host:port (same as --host/--port)")
    p.add_argument("--group", default="central", help="$share group name ('' = no sharing)")
    p.add_argument("--session-expiry", type=int, default=7 * 24 * 3600,
                   help="seconds the broker keeps this consumer's session while it is down")
    p.add_argument("--receive-maximum", type=int, default=128)
    p.add_argument("--log-level", default="INFO")
    _broker_flags(p)
    a = p.parse_args(argv)
    _logging(a.log_level)
    host, port = a.host, a.port
    if a.broker:
        h, _, pt = a.broker.rpartition(":")
        host, port = (h or host), int(pt)
    base = BrokerSettings(username="central", password_env="CLAIM_EDGE_CENTRAL_PASSWORD",
                          client_id=f"central-{socket.gethostname()}")
    a.host, a.port = host, port
    broker = _broker_from_args(a, base)
    from .central import Central
    c = Central(a.db, broker, a.blobs, group=a.group, session_expiry=a.session_expiry,
                receive_maximum=a.receive_maximum)
    signal.signal(signal.SIGTERM, lambda *_: c.stop())
    signal.signal(signal.SIGINT, lambda *_: c.stop())
    c.run()
    t = os.times()
    c.stats["cpu_s"] = round(t.user + t.system, 2)
    print(json.dumps({"central": c.stats}, sort_keys=True), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmds = {"sync": main_sync, "central": main_central}
    if argv[:1] == ["bench"]:
        from .harness.bench import main as bench_main
        return bench_main(argv[1:])
    if argv[:1] == ["soak"]:
        from .harness.soak import main as soak_main
        return soak_main(argv[1:])
    if argv[:1] == ["schema"]:
        from .schemas import json_schema
        print(json.dumps(json_schema(), indent=1, sort_keys=True))
        return 0
    if not argv or argv[0] not in cmds:
        print("usage: python -m sync {sync|central|bench|soak|schema} ...", file=sys.stderr)
        return 2
    return cmds[argv[0]](argv[1:])
