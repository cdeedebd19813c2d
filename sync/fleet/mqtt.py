"""A connected paho MQTT 5 client for the fleet tools (publisher, updater)."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt

from ..settings import BrokerSettings


class FleetConnectionError(Exception):
    pass


def connect(settings: BrokerSettings, client_id: str, timeout: float = 10.0,
            on_message=None, on_connect=None) -> mqtt.Client:
    """Connect and start the network loop; ``on_connect(client)`` runs on every (re)connect."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    settings.apply(client)
    ready = threading.Event()
    failure: list[str] = []

    def _on_connect(c, userdata, flags, reason, props):
        if reason.is_failure:
            failure.append(str(reason))
        elif on_connect:
            on_connect(c)
        ready.set()

    client.on_connect = _on_connect
    if on_message:
        client.on_message = on_message
    client.reconnect_delay_set(1, 30)
    try:
        client.connect(settings.host, settings.port, keepalive=settings.keepalive)
    except OSError as e:
        raise FleetConnectionError(f"broker {settings.host}:{settings.port}: {e}") from e
    client.loop_start()
    if not ready.wait(timeout) or failure:
        client.loop_stop()
        raise FleetConnectionError(f"broker {settings.host}:{settings.port} refused: "
                                   f"{failure[0] if failure else 'no answer'}")
    return client


def publish(client: mqtt.Client, topic: str, payload: bytes | str, retain: bool = False,
            timeout: float = 30.0) -> None:
    info = client.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(timeout)
    if not info.is_published():
        raise FleetConnectionError(f"publish to {topic} not acknowledged")
