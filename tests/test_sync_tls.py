"""Sync through the shipped TLS listener (firmware_config/mosquitto/tls-listener.conf): client
certificates required, the device id taken from the certificate's CN. The CA, the broker's and
the clients' certificates are made here with ``cryptography``."""

import datetime as dt
import ipaddress
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sync.harness.broker import Broker, free_port
from sync.device.login import check_login
from sync.settings import BrokerSettings
from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import (PASSWORDS, ROOT, CentralProc, assert_invariant, env_with_passwords,
                          make_device)

SHIPPED = ROOT / "firmware_config" / "mosquitto" / "tls-listener.conf"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, issuer_key, issuer_name, key, *, ca=False, server=False):
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5))
         .not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         # Python 3.13's default TLS context is strict (VERIFY_X509_STRICT): it refuses a chain
         # without these two identifiers
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             issuer_key.public_key()), critical=False))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                          crl_sign=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, encipher_only=False,
                                          decipher_only=False), critical=True)
    return b.sign(issuer_key, hashes.SHA256())


def make_pki(folder: Path, clients: list[str], ca_cn: str = "claim-edge test CA") -> dict:
    """CA, broker certificate for 127.0.0.1 and one client certificate per name: PEM paths."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(ca_cn, ca_key, _name(ca_cn), ca_key, ca=True)
    out = {"ca": folder / "ca.crt"}
    out["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cn, server in [("localhost", True)] + [(c, False) for c in clients]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(cn, ca_key, ca.subject, key, server=server)
        crt, pem = folder / f"{cn}.crt", folder / f"{cn}.key"
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
        out[cn] = (crt, pem)
    return out


def tls_broker(tmp_path: Path, pki: dict) -> tuple[Broker, int]:
    """The harness broker (password listener) plus the shipped TLS listener, its port and
    certificate paths pointed at the test's."""
    port = free_port()
    conf = SHIPPED.read_text()
    crt, key = pki["localhost"]
    for old, new in (("listener 8883 0.0.0.0", f"listener {port} 127.0.0.1"),
                     ("/etc/mosquitto/ca/ca.crt", str(pki["ca"])),
                     ("/etc/mosquitto/certs/broker.crt", str(crt)),
                     ("/etc/mosquitto/certs/broker.key", str(key))):
        assert old in conf, old
        conf = conf.replace(old, new)
    assert "require_certificate true" in conf and "use_identity_as_username true" in conf
    return Broker(tmp_path / "broker", PASSWORDS, extra=conf).start(), port


def test_sync_through_the_tls_listener_with_client_certificates(tmp_path):
    pki = make_pki(tmp_path / "pki", ["dev-a", "central"])
    broker, port = tls_broker(tmp_path, pki)
    store, uuids = make_device(tmp_path, 3, size=300_000, seed=41)
    crt, key = pki["central"]
    central = CentralProc(f"sqlite:///{tmp_path / 'central.db'}", port, tmp_path / "blobs",
                          extra=["--ca-file", str(pki["ca"]), "--cert-file", str(crt),
                                 "--key-file", str(key)])
    try:
        central.start()
        dcrt, dkey = pki["dev-a"]
        # no --username, no password: the device id is the certificate's CN
        cmd = [sys.executable, "-m", "sync", "sync", "--store", str(store), "--host", "127.0.0.1",
               "--port", str(port), "--ca-file", str(pki["ca"]), "--cert-file", str(dcrt),
               "--key-file", str(dkey), "--until-empty", "--timeout", "90", "--ack-timeout", "3"]
        out = subprocess.run(cmd, env=env_with_passwords(), cwd=ROOT, capture_output=True,
                             text=True, timeout=150)
        assert out.returncode == 0, out.stderr[-3000:]
        assert "connected to 127.0.0.1:%d as dev-a" % port in out.stderr
        # doctor's login over TLS with the device's certificate
        ok = check_login(BrokerSettings(port=port, ca_file=str(pki["ca"]), cert_file=str(dcrt),
                                        key_file=str(dkey)), "dev-a")
        assert ok.ok and "over TLS" in ok.detail, ok
        # a certificate from another CA is refused at the handshake
        other = make_pki(tmp_path / "other", ["dev-a"], ca_cn="someone else's CA")
        ocrt, okey = other["dev-a"]
        bad = check_login(BrokerSettings(port=port, ca_file=str(pki["ca"]), cert_file=str(ocrt),
                                         key_file=str(okey)), "dev-a")
        assert not bad.ok
    finally:
        central.stop()
        broker.stop()
    assert_invariant(store, f"sqlite:///{tmp_path / 'central.db'}", tmp_path / "blobs")
    assert "New client connected" in broker.log_text() and "u'dev-a'" in broker.log_text()
