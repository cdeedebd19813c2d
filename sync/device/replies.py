"""What the device does with central's replies (a mixin of ``SyncWorker``): acks, and image
states that name the chunks central still lacks (the guarantees are in worker.py)."""

from __future__ import annotations

import logging
import time

import msgspec

from edge.digest import sha256_file

from ..protocol import ACK_COMMITTED, ACK_DUPLICATE, ACK_REJECTED, t_ack, t_image
from ..schemas import SchemaError, decode_ack, decode_image_state

log = logging.getLogger("claim_edge.sync")


class CentralReplies:
    def _on_message(self, client, userdata, msg):
        try:
            if msg.topic == t_ack(self.device):
                body = msgspec.to_builtins(decode_ack(msg.payload))
                self._handle_ack(body["record_uuid"], body)
            elif msg.topic == t_image(self.device):
                body = msgspec.to_builtins(decode_image_state(msg.payload))
                self._handle_image(body["record_uuid"], body)
        except SchemaError as e:
            log.warning("unreadable message on %s: %s", msg.topic, e)

    def _handle_ack(self, u: str, body: dict) -> None:
        status = body.get("status")
        if status in (ACK_COMMITTED, ACK_DUPLICATE):
            self.stats[f"ack_{status}"] += 1
            try:
                rev = int(body.get("rev") or 0)
            except (TypeError, ValueError):
                rev = 0
            a = self._active.get(u)
            if a is not None and rev < a.rev:    # for a revision sent before the one in flight
                self.stats["ack_superseded"] += 1
                return
            self._updates.append(("acked", u, (status, rev)))
            later = self._requeued.pop(u, None)
            self._drop(u)
            if later is not None:      # corrected while in flight: send the new revision now
                self._rows.appendleft(later)
        elif status == ACK_REJECTED:
            # only for a record in flight, and only for a message this device sent: a malformed
            # copy of one of its uuids, sent by someone else, must not quarantine the real one
            a = self._active.get(u)
            theirs = body.get("payload_sha256")
            if a is None or (theirs is not None and theirs not in a.sent):
                self.stats["ack_rejected_not_ours"] += 1
                log.info("central rejected a message for %s that this device did not send "
                         "(or no longer waits for): %s", u, body.get("reason"))
                return
            reason = f"rejected by central: {body.get('reason') or 'no reason given'}"
            log.warning("record %s %s", u, reason)
            self.stats["ack_rejected"] += 1
            self._updates.append(("rejected", u, reason))
            self._drop(u)

    def _handle_image(self, u: str, body: dict) -> None:
        a = self._active.get(u)
        if a is None:
            return
        a.last_progress = time.monotonic()
        files = {sha: (path, size, n) for sha, path, size, n in a.images}
        for im in body.get("images", []):
            sha = im.get("sha256")
            if sha not in files:
                continue
            path, size, n = files[sha]
            if im.get("error") == "hash_mismatch":
                a.mismatches += 1
                self.stats["hash_mismatch_reports"] += 1
                try:
                    ok = sha256_file(path) == sha
                except OSError:
                    ok = False
                if not ok:
                    self._quarantine(u, f"image {sha} on the device no longer matches its SHA-256")
                    return
                if a.mismatches > 3:
                    self._quarantine(u, f"central found image {sha} corrupt {a.mismatches} times")
                    return
            for idx in im.get("missing", []):
                if isinstance(idx, int) and 0 <= idx < n and (sha, idx) not in a.queued:
                    a.queued.add((sha, idx))
                    self._sendq.append((u, sha, idx))
