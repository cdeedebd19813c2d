"""claim-edge: on-device processing of vehicle-insurance claim photos."""

__version__ = "0.1.0"
