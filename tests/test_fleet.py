"""Fleet model updates through a real Mosquitto (with the project's ACL): signed, staged,
atomic, health-checked, rolled back, reported."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from conftest import ROOT
from edge.bundle import load_bundle
from edge.config import load_profile_file
from edge.health import write_canary
from edge.registry import ModelRegistry
from sync.fleet import release as rel
from sync.fleet.mqtt import connect, publish
from sync.fleet.publisher import Publisher
from sync.fleet.signing import KeyStore, sign
from sync.fleet.updater import Updater, rollout_bucket
from sync.harness.broker import Broker
from sync.settings import BrokerSettings

PUB_PW, DEV_PW = "pub-secret", "dev-secret"
DEVICE = "tow-0007"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("broker"), {"fleet-publisher": PUB_PW, DEVICE: DEV_PW,
                                                   "tow-0008": DEV_PW})
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, model_dir):
    """Test bundles made from the shipped model: v1, v2 and one whose canary lies."""
    root = tmp_path_factory.mktemp("bundles")
    out = {}
    for tag, version in (("v1", "9.0.1"), ("v2", "9.0.2"), ("bad", "9.0.3")):
        d = root / tag
        shutil.copytree(model_dir, d)
        m = json.loads((d / "manifest.json").read_text())
        m["name"], m["version"] = "claim-classifier", version
        (d / "manifest.json").write_text(json.dumps(m))
        (d / "notes.bin").write_bytes(os.urandom(900_000))  # several chunks whatever the model size
        write_canary(d)
        if tag == "bad":
            m = json.loads((d / "manifest.json").read_text())
            for c in m["canary"]:
                c["expect"]["category"] = "vin" if c["expect"]["category"] != "vin" else "plate"
            (d / "manifest.json").write_text(json.dumps(m))
        out[tag] = d
    return out


@pytest.fixture
def channel(request):
    return "t" + str(abs(hash(request.node.name)) % 10**8)


@pytest.fixture
def publisher(tmp_path, broker):
    p = Publisher(tmp_path / "fleet-state", BrokerSettings(
        port=broker.port, username="fleet-publisher", password=PUB_PW))
    p.keys.generate()
    return p


def device_profile(tmp_path, publisher, channel, device=DEVICE, pinned=None):
    src = (ROOT / "firmware_config" / "kiosk-x86.toml").read_text()
    src = src.replace("port = 1883", f"port = {publisher.broker.port}")
    src = src.replace('path = "~/.claim-edge/store.db"', f'path = "{tmp_path / device / "store.db"}"')
    src = src.replace('id = "kiosk-0001"', f'id = "{device}"')
    src = src.replace('username = "kiosk-0001"', f'username = "{device}"')
    src = src.replace('channel = "stable"', f'channel = "{channel}"')
    src = src.replace("public_keys = []", f"public_keys = {json.dumps(pinned or publisher.keys.pinned())}")
    src = src.replace("max_classify_ms = 100.0", "max_classify_ms = 5000.0")
    p = tmp_path / f"{device}.toml"
    p.write_text(src)
    return p


def run_updater(profile_path, broker, wait=60.0):
    profile = load_profile_file(profile_path)
    up = Updater(profile, BrokerSettings(port=broker.port, username=profile.device.id,
                                         password=DEV_PW))
    up.start()
    up.done.wait(wait)
    time.sleep(0.3)
    up.stop()
    return up, ModelRegistry(profile.fleet.resolved_models_dir(profile.store))


def wait_for_report(broker, device, timeout=15.0, want=None):
    got = []
    ev = threading.Event()

    def on_message(c, u, msg):
        doc = json.loads(msg.payload)
        if want is None or doc["status"] == want:
            got.append(doc)
            ev.set()

    c = connect(BrokerSettings(port=broker.port, username="fleet-publisher", password=PUB_PW),
                f"reader-{time.time_ns()}", on_message=on_message,
                on_connect=lambda c: c.subscribe(rel.t_report(device), qos=1))
    ev.wait(timeout)
    c.disconnect()
    c.loop_stop()
    return got[-1] if got else None


def test_update_applied_end_to_end_and_reported(tmp_path, broker, publisher, bundles, channel):
    doc = publisher.publish_bundle(bundles["v1"], channel)
    up, reg = run_updater(device_profile(tmp_path, publisher, channel), broker)
    assert [o["status"] for o in up.outcomes] == ["active"], up.outcomes
    release = reg.state("claim-classifier")["active"]
    assert release.startswith(f"r{doc['version']:05d}-")
    assert load_bundle(reg.active_path("claim-classifier")).version == "9.0.1"
    report = wait_for_report(broker, DEVICE)
    assert report["status"] == "active" and report["active"] == release
    assert any(r["device"] == DEVICE and r["status"] == "active" for r in publisher.status(1.0))


def test_bad_signature_and_unknown_key_are_rejected(tmp_path, broker, publisher, bundles, channel):
    publisher.publish_bundle(bundles["v1"], channel)
    manifest = publisher.releases(channel)[-1]["manifest"]
    tampered = dict(manifest, percent=100, min_app_version="0.0.1")  # changed after signing
    stranger = KeyStore(tmp_path / "stranger")
    stranger.generate()
    foreign = sign({k: v for k, v in manifest.items() if k not in ("signature", "key_id")},
                   stranger.private())
    prof = device_profile(tmp_path, publisher, channel)
    for doc, reason in ((tampered, "bad signature"), (foreign, "unknown key")):
        c = connect(publisher.broker, f"evil-{time.time_ns()}")
        publish(c, rel.t_manifest(channel), json.dumps(doc), retain=True)
        c.disconnect()
        c.loop_stop()
        up, reg = run_updater(prof, broker, wait=3)
        assert up.outcomes and up.outcomes[-1]["status"] == "rejected"
        assert reason in up.outcomes[-1]["reason"]
        assert reg.active_path("claim-classifier") is None


def test_older_or_equal_version_and_expired_manifest(tmp_path, broker, publisher, bundles, channel):
    prof = device_profile(tmp_path, publisher, channel)
    publisher.publish_bundle(bundles["v1"], channel)
    publisher.publish_bundle(bundles["v2"], channel)
    up, reg = run_updater(prof, broker)
    active = reg.state("claim-classifier")["active"]
    assert active.startswith("r00002-")
    # Replaying the (validly signed) release 1 manifest changes nothing.
    old = publisher.releases(channel)[0]["manifest"]
    c = connect(publisher.broker, f"replay-{time.time_ns()}")
    publish(c, rel.t_manifest(channel), json.dumps(old), retain=True)
    c.disconnect()
    c.loop_stop()
    up, reg = run_updater(prof, broker, wait=3)
    assert up.outcomes == [] and reg.state("claim-classifier")["active"] == active
    publisher.publish_bundle(bundles["v1"], channel, expires_days=-1)
    up, reg = run_updater(prof, broker, wait=3)
    assert up.outcomes[-1]["status"] == "rejected" and "expired" in up.outcomes[-1]["reason"]
    assert reg.state("claim-classifier")["active"] == active


def test_truncated_chunk_is_refused_until_a_good_copy_arrives(tmp_path, broker, publisher,
                                                             bundles, channel):
    doc = publisher.publish_bundle(bundles["v1"], channel)
    good = rel.chunks(rel.pack(bundles["v1"]))[1]
    c = connect(publisher.broker, f"trunc-{time.time_ns()}")
    publish(c, rel.t_chunk(channel, doc["bundle_sha256"], 1), good[:1000], retain=True)
    up, reg = run_updater(device_profile(tmp_path, publisher, channel), broker, wait=4)
    assert up.outcomes == [] and reg.active_path("claim-classifier") is None
    publish(c, rel.t_chunk(channel, doc["bundle_sha256"], 1), good, retain=True)
    c.disconnect()
    c.loop_stop()
    up, reg = run_updater(device_profile(tmp_path, publisher, channel), broker)
    assert up.outcomes[-1]["status"] == "active"
    assert up.chunks_received == 1  # only the missing chunk was fetched again


def test_failed_health_check_rolls_back_and_reports(tmp_path, broker, publisher, bundles, channel):
    prof = device_profile(tmp_path, publisher, channel)
    publisher.publish_bundle(bundles["v1"], channel)
    _, reg = run_updater(prof, broker)
    good = reg.state("claim-classifier")["active"]
    publisher.publish_bundle(bundles["bad"], channel)
    up, reg = run_updater(prof, broker)
    assert up.outcomes[-1]["status"] == "rolled_back"
    assert "canary" in up.outcomes[-1]["reason"]
    assert reg.state("claim-classifier")["active"] == good
    assert wait_for_report(broker, DEVICE, want="rolled_back") is not None


def test_key_rotation(tmp_path, broker, publisher, bundles, channel):
    prof = device_profile(tmp_path, publisher, channel)  # pins current + next
    publisher.keys.rotate()  # next becomes current: devices already trust it
    publisher.publish_bundle(bundles["v1"], channel)
    up, _ = run_updater(prof, broker)
    assert up.outcomes[-1]["status"] == "active"
    publisher.keys.rotate()  # now signed by a key the device has never pinned
    publisher.publish_bundle(bundles["v2"], channel)
    up, _ = run_updater(prof, broker, wait=3)
    assert up.outcomes[-1]["status"] == "rejected" and "unknown key" in up.outcomes[-1]["reason"]


def test_device_outside_rollout_ignores_the_update(tmp_path, broker, publisher, bundles, channel):
    bucket = rollout_bucket(DEVICE)
    publisher.publish_bundle(bundles["v1"], channel, percent=bucket)  # bucket < percent needed
    up, reg = run_updater(device_profile(tmp_path, publisher, channel), broker, wait=3)
    assert up.outcomes[-1]["status"] == "skipped" and reg.active_path("claim-classifier") is None
    publisher.publish_bundle(bundles["v1"], channel, percent=bucket + 1)
    up, reg = run_updater(device_profile(tmp_path, publisher, channel), broker)
    assert up.outcomes[-1]["status"] == "active"


def follow(profile_path, crashpoint=None, timeout=120):
    env = dict(os.environ, CLAIM_EDGE_BROKER_PASSWORD=DEV_PW)
    if crashpoint:
        env["CLAIM_EDGE_CRASHPOINT"] = crashpoint
    return subprocess.run([sys.executable, "-m", "edge.cli", "fleet", "follow", "--profile",
                           str(profile_path), "--once", "--wait", "60"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_partial_download_resumes_after_restart(tmp_path, broker, publisher, bundles, channel):
    doc = publisher.publish_bundle(bundles["v1"], channel)
    prof = device_profile(tmp_path, publisher, channel)
    r = follow(prof, crashpoint="after_chunk_2")
    assert r.returncode == -signal.SIGKILL, r.stderr
    up, reg = run_updater(prof, broker)
    assert up.outcomes[-1]["status"] == "active"
    assert up.chunks_received == len(doc["chunks"]) - 2


@pytest.mark.parametrize("point", ["before_install", "before_activate", "after_activate"])
def test_killed_during_swap_leaves_one_valid_model(tmp_path, broker, publisher, bundles, channel,
                                                   point):
    prof = device_profile(tmp_path, publisher, channel)
    publisher.publish_bundle(bundles["v1"], channel)
    assert follow(prof).returncode == 0
    profile = load_profile_file(prof)
    reg = ModelRegistry(profile.fleet.resolved_models_dir(profile.store))
    first = reg.state("claim-classifier")["active"]
    publisher.publish_bundle(bundles["v2"], channel)
    assert follow(prof, crashpoint=point).returncode == -signal.SIGKILL
    active = reg.state("claim-classifier")["active"]
    assert active in reg.releases("claim-classifier")
    load_bundle(reg.active_path("claim-classifier"))  # loads and hash-checks
    assert active == (first if point != "after_activate" else active)
    r = follow(prof)  # restart: the update completes
    assert r.returncode == 0, r.stderr
    final = reg.state("claim-classifier")["active"]
    assert final.startswith("r00002-") and load_bundle(reg.active_path("claim-classifier"))


def test_models_commands_work_without_a_broker(tmp_path, broker, publisher, bundles, channel, cli):
    prof = device_profile(tmp_path, publisher, channel)
    publisher.publish_bundle(bundles["v1"], channel)
    publisher.publish_bundle(bundles["v2"], channel)
    run_updater(prof, broker)
    r = cli("models", "list", "--profile", str(prof))
    assert "r00002-" in r.stdout and "active" in r.stdout
    r = cli("models", "rollback", "--profile", str(prof))
    assert r.returncode == 0
    assert active_release(cli("models", "list", "--profile", str(prof)).stdout,
                          "claim-classifier") == "shipped"
    r = cli("models", "activate", "r00002-" + load_bundle(bundles["v2"]).sha256[:12],
            "--profile", str(prof))
    assert r.returncode == 0, r.stderr
    assert active_release(cli("models", "list", "--profile", str(prof)).stdout,
                          "claim-classifier").startswith("r00002-")


def active_release(listing: str, name: str) -> str:
    """The release column of ``name``'s active row in ``claim-edge models list``."""
    rows = [x.split() for x in listing.splitlines() if x.endswith(" active")]
    got = [r[2] for r in rows if r[1] == name]
    assert len(got) == 1, listing
    return got[0]
