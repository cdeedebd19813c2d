"""Fleet model updates: signed releases published over MQTT, verified and applied on devices."""
