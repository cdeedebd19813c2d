"""How central survives bad messages and a failing database (a mixin of ``Central``).

- a message that fails its schema, or whose own commit step fails for a reason that is not the
  database's, is dead-lettered: a ``rejected_message`` row, a ``rejected`` ack with a reason a
  person can read, and a PUBACK with its batch; each message's work runs in a savepoint, so
  only its own effect is undone;
- a transient database error (connection lost, lock timeout, serialization failure) rolls the
  batch back and retries it with backoff for as long as the database is away; the same failure
  ``max_failures`` times while the database answers is a message's fault: the batch is retried
  one message at a time and the one that still fails is dead-lettered.
"""

from __future__ import annotations

import hashlib
import logging
import time

import peewee as pw

from ..backoff import Backoff
from ..protocol import ACK_REJECTED, parse_up_topic, t_ack, t_record
from ..schemas import MAX_VALUE_CHARS, record_uuid_of
from . import db as cdb

log = logging.getLogger("claim_edge.central")

REJECTED_COLS = (cdb.RejectedMessage.at, cdb.RejectedMessage.device, cdb.RejectedMessage.topic,
                 cdb.RejectedMessage.reason, cdb.RejectedMessage.payload_sha256,
                 cdb.RejectedMessage.payload_bytes, cdb.RejectedMessage.record_uuid,
                 cdb.RejectedMessage.content_sha256)

# The database is away or busy (connection lost, lock timeout, serialization failure):
# retry the batch; any other error is the message's and dead-letters it.
TRANSIENT: tuple = (pw.OperationalError, pw.InterfaceError)
try:    # peewee re-raises psycopg2's finer classes (SerializationFailure, ...) unwrapped
    import psycopg2
    TRANSIENT += (psycopg2.OperationalError, psycopg2.InterfaceError)
except ImportError:
    pass


def failure_reason(e: Exception) -> str:
    """An exception as a reason a person can act on (the traceback is in central's log)."""
    if isinstance(e, pw.DatabaseError) or type(e).__module__.startswith("psycopg2"):
        first = (str(e).strip().splitlines() or [""])[0][:300]
        return f"the database refused it: {first}" if first else "the database refused it"
    if isinstance(e, ValueError) and "NUL" in str(e):
        return "a text value holds a NUL character, which the database cannot store"
    return f"internal error {type(e).__name__} while committing; see central's log"


class FailureHandling:
    """Needs from its host: ``process``, ``db``, ``_insert``, ``_staged``, ``_drop_staged``,
    ``_ack_messages``, ``_reply``, ``_recheck``, ``_count`` and the batch state."""

    def _process_with_retry(self, batch) -> None:
        """Commit ``batch``, then PUBACK it and publish the replies. A failure rolls the batch
        back and retries it with backoff (a database that is down or busy: forever). One that
        fails the same way ``max_failures`` times while the database answers is a message's
        fault: the batch is retried one message at a time, and the message that still fails
        is dead-lettered, so it never blocks the ones behind it."""
        backoff = Backoff(0.2, 5.0)
        failures, last = 0, None
        while not self._stop.is_set():
            try:
                replies, after = self.process(batch)
            except Exception as e:  # noqa: BLE001 - nothing is acked: retry, never die
                # the same error while committing the same staged record is the same failure
                sig = (f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}",
                       self._finalizing)
                failures = failures + 1 if sig == last else 1
                last = sig
                if isinstance(e, TRANSIENT):
                    log.warning("database error, batch of %d retried (%d): %s", len(batch),
                                failures, sig[0])
                else:
                    log.exception("batch of %d failed (%d); retried", len(batch), failures)
                self._close_db()
                if failures >= self.max_failures and self._db_alive():
                    if len(batch) > 1:
                        for m in batch:
                            self._process_with_retry([m])
                        return
                    self._dead_letter_alone(batch[0], e, self._finalizing)
                    return
                time.sleep(backoff.next())
                continue
            self._ack_messages(batch)          # PUBACK only now: the batch is committed
            for topic, body in replies:
                self._reply(topic, body)
            if after or self._incomplete:
                self._recheck(after, self._incomplete)
            return

    def _close_db(self) -> None:
        try:
            self.db.close()
        except Exception:  # noqa: BLE001
            pass

    def _db_alive(self) -> bool:
        """Does the database answer, and could it take a write now? Then a failure that repeats
        is the message's fault. (SQLite: "database is locked" by another writer is not; the
        probe takes the write lock and lets it go.)"""
        try:
            self.db.connect(reuse_if_open=True)
            if isinstance(self.db, pw.SqliteDatabase):
                self.db.execute_sql("BEGIN IMMEDIATE")
                self.db.execute_sql("ROLLBACK")
            else:
                self.db.execute_sql("SELECT 1").fetchall()
            return True
        except Exception as e:  # noqa: BLE001
            log.warning("database not answering: %s", e)
            self._close_db()
            return False

    def _dead_letter_alone(self, m, error: Exception, culprit) -> None:
        """The message ``m`` failed ``max_failures`` times on its own: dead-letter it in a
        transaction of its own (retried while the database is away) and PUBACK it. When the
        failing step was committing a staged record (``culprit``: its device, uuid and content
        hash; ``m`` is then the chunk that completed its image), that record is the dead
        letter, so its device hears ``rejected`` instead of asking forever."""
        reason = (f"central failed to store this message {self.max_failures} times "
                  f"({failure_reason(error)})")
        backoff = Backoff(0.2, 5.0)
        while not self._stop.is_set():
            replies: list = []
            try:
                self.db.connect(reuse_if_open=True)
                with self.db.atomic():
                    if culprit is not None and self._staged(culprit[1]) is not None:
                        self._dead_letter_staged(*culprit, reason, replies)
                    else:
                        self._dead_letter(m, reason, replies)
            except Exception as e:  # noqa: BLE001
                log.warning("could not dead-letter a message yet (%s); retried", e)
                self._close_db()
                time.sleep(backoff.next())
                continue
            self._ack_messages([m])
            for topic, body in replies:
                self._reply(topic, body)
            return

    def _dead_letter_staged(self, device: str, uuid: str, content: str, reason: str,
                            replies) -> None:
        st = self._staged(uuid)
        payload = st.payload.encode() if st is not None else b""
        log.warning("dead-lettered record %s from %s: %s", uuid, device, reason)
        self._count("rejected")
        self._insert(cdb.RejectedMessage, REJECTED_COLS, [
            (cdb.utcnow(), device, t_record(device), reason[:MAX_VALUE_CHARS],
             hashlib.sha256(payload).hexdigest(), len(payload), uuid, content)], ignore=True)
        self._drop_staged(uuid)
        replies.append((t_ack(device), {"record_uuid": uuid, "status": ACK_REJECTED,
                                        "reason": reason[:MAX_VALUE_CHARS]}))

    def _isolated(self, m, replies, staged_now, handle) -> None:
        """Run ``handle`` in a savepoint; if it fails other than transiently, undo its effect
        (rows, replies, caches) and dead-letter the message instead."""
        marks = (len(replies), len(staged_now), len(self._new_keys), set(self._pending_blobs),
                 set(self._finalized))
        try:
            with self.db.atomic():
                handle()
        except TRANSIENT:
            raise
        except Exception as e:  # noqa: BLE001 - one message must not stop the others
            log.exception("message on %s could not be committed; dead-lettered", m.topic)
            self._finalizing = None
            del replies[marks[0]:]
            del staged_now[marks[1]:]
            del self._new_keys[marks[2]:]
            self._pending_blobs, self._finalized = marks[3], marks[4]
            self._dead_letter(m, f"central could not store it ({failure_reason(e)})", replies)

    def _dead_letter(self, m, reason: str, replies, uuid: str | None = None,
                     content: str | None = None) -> None:
        """Keep why ``m`` was refused in ``rejected_message`` and, for a record, ack it
        ``rejected`` with that reason; the message is PUBACKed with its batch."""
        try:
            device = parse_up_topic(m.topic)[0]
        except ValueError:
            device = (m.topic.split("/") + ["", ""])[1][:128] or "?"
        payload = bytes(m.payload)
        if uuid is None and m.topic.endswith("/up/record"):
            uuid = record_uuid_of(payload)
        log.warning("dead-lettered a message on %s from %s (record %s): %s", m.topic[:200],
                    device, uuid, reason)
        self._count("rejected")
        digest = hashlib.sha256(payload).hexdigest()
        self._insert(cdb.RejectedMessage, REJECTED_COLS, [
            (cdb.utcnow(), device, m.topic[:255], reason[:MAX_VALUE_CHARS], digest,
             len(payload), uuid, content)], ignore=True)
        if uuid and m.topic == t_record(device):
            replies.append((t_ack(device), {"record_uuid": uuid, "status": ACK_REJECTED,
                                            "reason": reason[:MAX_VALUE_CHARS],
                                            "payload_sha256": digest}))

    def _reject(self, m, device: str, uuid: str | None, content: str | None, reason: str,
                replies) -> None:
        self._dead_letter(m, reason, replies, uuid=uuid, content=content)
