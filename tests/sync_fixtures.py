"""pytest fixtures for the sync tests (import * from the test modules)."""

from __future__ import annotations

import pytest

from sync.harness.broker import Broker, find_mosquitto
from sync_helpers import PASSWORDS, drop_pg_schema, new_pg_url, pg_available

if find_mosquitto() is None:  # the sync tests need the real broker: fail, never skip
    raise RuntimeError("mosquitto not installed (apt-get install mosquitto)")
_PG = None


def _pg_ok() -> bool:
    global _PG
    if _PG is None:
        _PG = pg_available()
    return _PG


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker", PASSWORDS).start()
    yield b
    b.stop()


def _db_url(kind: str, tmp_path):
    if kind == "postgresql":
        if not _pg_ok():
            msg = "PostgreSQL not reachable at 127.0.0.1:5432 (database test; SYNC_TEST_PG overrides)"
            pytest.fail(msg)              # the fault tests run against the real PostgreSQL
        url, schema = new_pg_url()
        return url, lambda: drop_pg_schema(schema)
    return f"sqlite:///{tmp_path / 'central.db'}", lambda: None


@pytest.fixture(params=["postgresql", "sqlite"])
def central_db(request, tmp_path):
    url, cleanup = _db_url(request.param, tmp_path)
    yield url
    cleanup()


@pytest.fixture
def pg_db(tmp_path):
    url, cleanup = _db_url("postgresql", tmp_path)
    yield url
    cleanup()


@pytest.fixture
def sqlite_db(tmp_path):
    url, cleanup = _db_url("sqlite", tmp_path)
    yield url
    cleanup()
