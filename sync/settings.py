"""Broker connection settings: from the device profile's ``[broker]`` table or from CLI flags."""

from __future__ import annotations

import dataclasses
import os
import ssl
from pathlib import Path
from typing import Any

# CONNACK reason codes that a retry cannot fix: bad user name or password, not authorized,
# bad authentication method
CREDENTIAL_CODES = frozenset({0x86, 0x87, 0x8C})


@dataclasses.dataclass
class BrokerSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None          # literal (tests, CLI); profiles use password_env/_file
    password_env: str | None = None      # name of the env var holding the password
    password_file: str | None = None     # file whose first line is the password
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None         # client certificate (PEM) for mTLS: implies TLS
    key_file: str | None = None          # its private key (PEM); default: inside cert_file
    keepalive: int = 30
    client_id: str | None = None

    def resolved_password(self) -> str | None:
        if self.password is not None:
            return self.password
        if self.password_env and os.environ.get(self.password_env) is not None:
            return os.environ[self.password_env]
        if self.password_file:
            lines = Path(self.password_file).read_text().splitlines()
            if not lines or not lines[0].strip():
                raise ValueError(f"the broker password file {self.password_file} is empty")
            return lines[0].strip()
        return None

    def apply(self, client) -> None:
        """Credentials and TLS on a paho client (before connect). With a client certificate
        and no username, the broker takes the username from the certificate
        (mosquitto ``use_identity_as_username``)."""
        if self.username is not None:
            client.username_pw_set(self.username, self.resolved_password())
        if self.tls or self.cert_file:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                ctx.load_cert_chain(self.cert_file, self.key_file or None)
            client.tls_set_context(ctx)

    def identity(self) -> str | None:
        """The client certificate's common name (the device id the broker will see)."""
        if not self.cert_file:
            return None
        from cryptography import x509
        from cryptography.x509.oid import NameOID
        cert = x509.load_pem_x509_certificate(Path(self.cert_file).read_bytes())
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else None

    def credentials_hint(self) -> str:
        """What to fix when the broker refuses these credentials, naming the setting."""
        if self.cert_file and self.username is None:
            return (f"the broker did not accept the client certificate {self.cert_file} "
                    "([broker] cert_file / key_file, --cert-file / --key-file): is it signed by "
                    "the broker's CA and is its CN a known device?")
        where = []
        if self.password is not None:
            where.append("the password given on the command line")
        if self.password_env:
            state = "is set" if os.environ.get(self.password_env) is not None else "is NOT set"
            where.append(f"the environment variable {self.password_env} ({state}; [broker] "
                         "password_env in the profile, --password-env on the command line)")
        if self.password_file:
            where.append(f"the file {self.password_file} ([broker] password_file, "
                         "--password-file)")
        if not where:
            return (f"no password is configured for user {self.username!r}: set [broker] "
                    "password_env (default CLAIM_EDGE_BROKER_PASSWORD) or password_file in the "
                    "profile, or --password-env / --password-file")
        return (f"check user {self.username!r} and the password in " + " or ".join(where) +
                "; the broker's password file must hold the same")

    @classmethod
    def from_mapping(cls, m: Any) -> "BrokerSettings":
        """From a dict or an object with the profile's ``[broker]`` fields; unknown keys ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(m, dict):
            m = {k: getattr(m, k) for k in names
                 if hasattr(m, k) and not callable(getattr(m, k))}
        return cls(**{k: v for k, v in m.items() if k in names and v is not None})

    @classmethod
    def from_config(cls, b: Any, device_id: str) -> "BrokerSettings":
        """From a profile's ``[broker]`` table (``edge.config.BrokerConfig``): the username is
        the device id unless a client certificate names it."""
        return cls(host=b.host, port=b.port,
                   username=b.username or (None if b.cert_file else device_id),
                   password_env=b.password_env or None, password_file=b.password_file or None,
                   tls=b.tls, ca_file=b.ca_file or None, cert_file=b.cert_file or None,
                   key_file=b.key_file or None, keepalive=b.keepalive,
                   client_id=b.client_id or None)

    @classmethod
    def from_profile(cls, name: str) -> "BrokerSettings":
        from edge.config import load_profile  # the lead's profile loader
        prof = load_profile(name)
        return cls.from_config(prof.broker, prof.device.id)

    def override(self, **kw) -> "BrokerSettings":
        return dataclasses.replace(self, **{k: v for k, v in kw.items() if v is not None})
