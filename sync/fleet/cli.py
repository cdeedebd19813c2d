"""``claim-edge fleet ...``: publish signed model releases and follow them on a device."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from edge.config import ConfigError, load_profile

from ..settings import BrokerSettings
from .mqtt import FleetConnectionError
from .release import ReleaseError
from .signing import SignatureError

DEFAULT_STATE = os.environ.get("CLAIM_EDGE_FLEET_HOME", "~/.claim-edge-fleet")


def _broker(args) -> BrokerSettings:
    return BrokerSettings(host=args.host, port=args.port, username=args.username,
                          password_env=args.password_env, password_file=args.password_file,
                          tls=args.tls, ca_file=args.ca_file)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="claim-edge fleet",
                                description="Signed model updates over MQTT.")
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--host", default="127.0.0.1")
    conn.add_argument("--port", type=int, default=1883)
    conn.add_argument("--username", default="fleet-publisher")
    conn.add_argument("--password-env", default="CLAIM_EDGE_FLEET_PASSWORD",
                      help="environment variable holding the broker password")
    conn.add_argument("--password-file")
    conn.add_argument("--tls", action="store_true")
    conn.add_argument("--ca-file")
    conn.add_argument("--state", default=DEFAULT_STATE,
                      help=f"publisher keys and release log (default {DEFAULT_STATE})")
    sub = p.add_subparsers(dest="cmd", required=True)

    pub = sub.add_parser("publish", parents=[conn],
                         help="sign and publish a release of one or several bundles")
    pub.add_argument("bundle", type=Path, nargs="+",
                     help="bundle folder(s), any kind (manifest.json with canary inputs); "
                          "several are activated together and rolled back together")
    pub.add_argument("--channel", default="stable")
    pub.add_argument("--percent", type=int, default=100, help="rollout percentage (0-100)")
    pub.add_argument("--expires-days", type=float, default=30.0)

    rb = sub.add_parser("rollback", parents=[conn], help="republish the previous release")
    rb.add_argument("--channel", default="stable")

    sub.add_parser("status", parents=[conn], help="which device runs which model")

    k = sub.add_parser("keys", parents=[conn], help="publisher signing keys")
    k.add_argument("action", choices=["generate", "rotate", "show"])

    f = sub.add_parser("follow", help="device side: apply releases of the profile's channel")
    f.add_argument("--profile")
    f.add_argument("--once", action="store_true",
                   help="exit after the first release is handled (or --wait seconds pass)")
    f.add_argument("--wait", type=float, default=60.0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.cmd == "follow":
            return _follow(args)
        from .publisher import Publisher
        pub = Publisher(args.state, _broker(args))
        if args.cmd == "keys":
            index = {"generate": pub.keys.generate, "rotate": pub.keys.rotate,
                     "show": lambda: pub.keys._index()}[args.action]()
            if not index:
                print(f"no keys in {pub.keys.dir}; run `claim-edge fleet keys generate`")
                return 1
            print("Pin both on the devices ([fleet] public_keys in the profile):")
            print(json.dumps(pub.keys.pinned()))
            return 0
        if args.cmd == "publish":
            doc = pub.publish_bundle(args.bundle, args.channel, args.percent, args.expires_days)
            what = " + ".join(f"{m['name']} {m['version']}" for m in doc["models"])
            print(f"published release {doc['version']} of {what} on {args.channel} to "
                  f"{args.percent}% "
                  f"({doc['size']:,} bytes in {len(doc['chunks'])} chunks, key {doc['key_id']})")
            return 0
        if args.cmd == "rollback":
            doc = pub.rollback(args.channel)
            print(f"published release {doc['version']}: back to {doc['model']['name']} "
                  f"{doc['model']['version']} on {args.channel}")
            return 0
        if args.cmd == "status":
            reports = pub.status()
            if not reports:
                print("no device has reported yet")
            for r in reports:
                models = r.get("models") or [r.get("model") or {}]
                what = " + ".join(f"{m.get('name', '')} {m.get('version', '')}" for m in models)
                print(f"{r['device']}\t{r['status']}\trelease {r.get('release')}\t{what}\t"
                      f"active {r.get('actives') or r.get('active')}\t{r['at']}\t{r['reason']}")
            return 0
    except (FleetConnectionError, ReleaseError, SignatureError, ConfigError, OSError) as e:
        print(f"claim-edge fleet: {e}", file=sys.stderr)
        return 1
    return 2


def _follow(args) -> int:
    from edge.service.notify import Notifier

    from .updater import Updater
    profile = load_profile(args.profile)
    broker = BrokerSettings.from_mapping(profile.broker)
    if not broker.username:
        broker = broker.override(username=profile.device.id)
    if not profile.fleet.public_keys:
        print(f"claim-edge fleet: {profile.source}: [fleet] public_keys is empty; no update can "
              "be trusted", file=sys.stderr)
        return 2
    up = Updater(profile, broker)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    up.start()
    print(f"following fleet/models/{profile.fleet.channel} as {up.device}", file=sys.stderr)
    notifier = Notifier()
    notifier.ready(f"following fleet/models/{profile.fleet.channel}")
    try:
        if args.once:
            up.done.wait(args.wait)
        else:
            # Feed systemd's watchdog while the message worker lives; if it dies, stop feeding
            # and the service is restarted.
            while not stop.wait(1.0):
                if up.alive:
                    notifier.kick()
        notifier.stopping()
    except KeyboardInterrupt:
        pass
    finally:
        up.stop()
    for o in up.outcomes:
        print(json.dumps(o))
    return 0
