"""Proving sync under faults: a real Mosquitto and a link-cutting TCP proxy (broker.py), generated
device data (devicedata.py), malformed messages (malformed.py), the exactly-once invariant
(invariant.py), and the commands built on them: `claim-edge bench sync` (bench.py) and the soak
(soak.py). Used by the tests; the worker and central never import it."""
