"""Broker connection settings: from the device profile's ``[broker]`` table or from CLI flags."""

from __future__ import annotations

import dataclasses
import os
import ssl
from pathlib import Path
from typing import Any


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
    keepalive: int = 30
    client_id: str | None = None

    def resolved_password(self) -> str | None:
        if self.password is not None:
            return self.password
        if self.password_env and os.environ.get(self.password_env) is not None:
            return os.environ[self.password_env]
        if self.password_file:
            return Path(self.password_file).read_text().splitlines()[0].strip()
        return None

    def apply(self, client) -> None:
        """Credentials and TLS on a paho client (before connect)."""
        if self.username is not None:
            client.username_pw_set(self.username, self.resolved_password())
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            client.tls_set_context(ctx)

    @classmethod
    def from_mapping(cls, m: Any) -> "BrokerSettings":
        """From a dict or an object with the profile's ``[broker]`` fields; unknown keys ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(m, dict):
            m = {k: getattr(m, k) for k in names
                 if hasattr(m, k) and not callable(getattr(m, k))}
        return cls(**{k: v for k, v in m.items() if k in names and v is not None})

    @classmethod
    def from_profile(cls, name: str) -> "BrokerSettings":
        from edge.config import load_profile  # the lead's profile loader
        return cls.from_mapping(load_profile(name).broker)

    def override(self, **kw) -> "BrokerSettings":
        return dataclasses.replace(self, **{k: v for k, v in kw.items() if v is not None})
