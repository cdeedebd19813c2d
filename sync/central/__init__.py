"""The insurer's central ingest service: the MQTT consumer and its batch loop (service.py), how
chunks become images (images.py) and records are committed (records.py), how bad messages and a
failing database are survived (failures.py), its database schema (db.py), and the operators'
commands on it (tools.py: reviews and corrections; report.py: the drift report)."""
from .service import Central

__all__ = ["Central"]
