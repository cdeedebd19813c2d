"""Numbered schema migrations, applied in order; the version lives in SQLite's ``user_version``."""

from __future__ import annotations

from typing import Callable

import peewee as pw

from . import schema


def _m1_initial(db: pw.Database) -> None:
    db.create_tables(schema.TABLES)
    for op in ("UPDATE", "DELETE"):
        db.execute_sql(
            f"CREATE TRIGGER audit_log_no_{op.lower()} BEFORE {op} ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")


MIGRATIONS: list[tuple[int, str, Callable[[pw.Database], None]]] = [
    (1, "initial schema", _m1_initial),
]
LATEST = MIGRATIONS[-1][0]


class SchemaTooNew(Exception):
    pass


def current_version(db: pw.SqliteDatabase) -> int:
    return db.execute_sql("PRAGMA user_version").fetchone()[0]


def migrate(db: pw.SqliteDatabase) -> list[int]:
    """Apply every pending migration, each in its own transaction. Returns those applied."""
    have = current_version(db)
    if have > LATEST:
        raise SchemaTooNew(f"store schema version {have} is newer than this program's {LATEST}; "
                           "upgrade claim-edge")
    applied = []
    for number, _title, step in MIGRATIONS:
        if number <= have:
            continue
        with db.atomic():
            step(db)
            db.execute_sql(f"PRAGMA user_version = {number}")
        applied.append(number)
    return applied
