"""The device side of sync: the worker that drains the outbox to central exactly once (worker.py),
the record it sends (record.py), its telemetry (telemetry.py) and the broker login check `claim-
edge doctor` runs (login.py)."""
