"""Log in to the broker with the device's own credentials and log out (``claim-edge doctor``):
a TCP check says nothing about a wrong password, a missing variable or a bad certificate."""

from __future__ import annotations

import dataclasses
import threading

import paho.mqtt.client as mqtt

from ..settings import CREDENTIAL_CODES, BrokerSettings


@dataclasses.dataclass(frozen=True)
class LoginResult:
    ok: bool                 # logged in
    reachable: bool          # the broker answered at all (a refusal is an answer)
    detail: str              # what happened, and what to fix when refused


def check_login(settings: BrokerSettings, device: str, timeout: float = 5.0) -> LoginResult:
    b = settings
    where = f"{b.host}:{b.port}"
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{device}-doctor",
                    protocol=mqtt.MQTTv5)
    try:
        b.apply(c)
    except (OSError, ValueError) as e:
        return LoginResult(False, False, f"cannot use the broker credentials ({e}): "
                                         f"{b.credentials_hint()}")
    done = threading.Event()
    got: dict = {}

    def on_connect(client, userdata, flags, reason_code, properties):
        got["rc"] = reason_code
        done.set()

    c.on_connect = on_connect
    c.on_disconnect = lambda *a: done.set()
    try:
        c.connect(b.host, b.port, keepalive=max(5, int(timeout) + 1))
    except (OSError, ValueError) as e:   # refused TCP, DNS, TLS handshake (ssl.SSLError)
        why = getattr(e, "strerror", None) or e
        return LoginResult(False, False, f"{where} not reachable ({why})")
    c.loop_start()
    try:
        if not done.wait(timeout) or "rc" not in got:
            return LoginResult(False, False,
                               f"{where}: no answer to the login within {timeout:.0f} s")
        rc = got["rc"]
        who = b.username or "the certificate's CN"
        if rc.is_failure:
            if getattr(rc, "value", 0) in CREDENTIAL_CODES:
                return LoginResult(False, True, f"{where} refused {who} ({rc}): "
                                                f"{b.credentials_hint()}")
            return LoginResult(False, True, f"{where} refused the login ({rc})")
        tls = " over TLS" if (b.tls or b.cert_file) else ""
        return LoginResult(True, True, f"{where} logged in as {who}{tls}")
    finally:
        c.disconnect()
        c.loop_stop()
