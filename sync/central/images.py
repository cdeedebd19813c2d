"""How central turns chunks into images (a mixin of ``Central``): each chunk is written into a
staging file at its offset before its row commits; chunks that arrive in order feed a running
whole-file SHA-256, any other is checked against its own SHA-256 on arrival; a complete file is
fsynced and must hash to its name before it is renamed into the blob directory; on a mismatch
the chunks whose bytes do not match their own SHA-256 are dropped and asked for again (all of
them when each matches: the sender's file differs)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from edge.digest import sha256_file

from ..protocol import CHUNK_SIZE, parse_chunk, t_image
from ..schemas import SchemaError
from . import db as cdb

log = logging.getLogger("claim_edge.central")

CHUNK_COLS = (cdb.Chunk.sha256, cdb.Chunk.idx, cdb.Chunk.chunk_sha256, cdb.Chunk.nchunks,
              cdb.Chunk.size, cdb.Chunk.received_at)


class ImageAssembly:
    def _blob_exists(self, sha: str) -> bool:
        if sha in self._known_blobs:
            return True
        if self._select("blob", lambda h: cdb.Blob.select(cdb.Blob.size)
                        .where(cdb.Blob.sha256 == h), sha):
            self._pending_blobs.add(sha)   # cached once the transaction commits
            return True
        return False

    def _store_chunks(self, chunks, replies) -> set[str]:
        """Write the batch's chunks to their staging files and add their rows."""
        rows, touched, to_hash = [], set(), []
        by_sha: dict[str, list] = {}
        for device, sha, idx, m in chunks:
            by_sha.setdefault(sha, []).append((device, idx, m))
        for sha, items in by_sha.items():
            if self._blob_exists(sha):
                self._count("chunks_for_complete_blob", len(items))
                continue
            have = self._chunks_held(sha)
            for device, idx, m in items:
                try:
                    chunk = parse_chunk(m.payload, idx)
                except SchemaError as e:
                    self._count("bad_chunks")
                    self._dead_letter(m, f"unreadable chunk {idx} of image {sha}: {e}", replies)
                    continue
                n, size, csha, ruuid, data = (chunk.nchunks, chunk.size, chunk.sha256,
                                              chunk.record_uuid, chunk.data)
                if size > self.max_image_bytes:
                    self._count("bad_chunks")
                    self._dead_letter(m, f"chunk of a {size}-byte image, above this central's "
                                         f"{self.max_image_bytes}-byte limit", replies)
                    continue
                bad = False
                if not bad and idx in have:
                    self._count("duplicate_chunks")
                    continue
                # A chunk that extends the in-order run is checked by the whole-file hash (and
                # its own hash only if that fails: _locate_bad_chunks); any other, now.
                if not bad and not self._extends_run(sha, idx):
                    bad = hashlib.sha256(data).hexdigest() != csha
                if bad:
                    self._count("bad_chunks")
                    log.warning("bad chunk %s/%d from %s (size or SHA-256 mismatch); asking again",
                                sha, idx, device)
                    if ruuid:
                        replies.append((t_image(device), {"record_uuid": ruuid, "images": [
                            {"sha256": sha, "missing": [idx]}]}))
                    continue
                have.add(idx)
                self.writer.add(sha, idx * CHUNK_SIZE, data)
                h = self._run_hasher(sha, idx)
                if h is not None:
                    to_hash.append((h, data))
                rows.append((sha, idx, csha, n, size))
                touched.add(sha)
                self._count("chunks_stored")
        # the running hashes are fed while the writes wait for the disk
        self.writer.flush(meanwhile=lambda: [h.update(d) for h, d in to_hash])
        now = cdb.utcnow()
        self._insert(cdb.Chunk, CHUNK_COLS, [r + (now,) for r in rows], ignore=True)
        return touched

    def _chunks_held(self, sha: str) -> set[int]:
        return {i for (i,) in self._select("chunk_idx", lambda h: cdb.Chunk.select(cdb.Chunk.idx)
                                           .where(cdb.Chunk.sha256 == h), sha)}

    def _extends_run(self, sha: str, idx: int) -> bool:
        st = self._running.get(sha)
        return idx == 0 or (st is not None and st[1] == idx)

    def _run_hasher(self, sha: str, idx: int):
        """The whole-file SHA-256 to feed chunk ``idx`` to, None if it is not the next in
        order. Computed as chunks arrive in order (the usual case), so the completed file need
        not be read back; any gap falls back to reading it."""
        st = self._running.get(sha)
        if idx == 0:
            if st is None and len(self._running) > 256:
                self._running.clear()
            st = self._running[sha] = [hashlib.sha256(), 0]
        if st is None or st[1] != idx:
            self._running.pop(sha, None)
            return None
        st[1] += 1
        return st[0]

    @staticmethod
    def _final_ok(final: Path, sha: str) -> bool:
        try:
            return final.is_file() and sha256_file(final) == sha
        except FileNotFoundError:
            return False

    def _assemble(self, sha: str, size: int, n: int, part: Path, final: Path) -> bool:
        """Turn the complete, fsynced staging file into the blob ``final``; False if it does
        not hash to ``sha``. Another central may be doing the same at the same moment:
        whichever renames first wins, the other finds the final file."""
        if self._final_ok(final, sha):
            try:
                part.unlink()            # a leftover from a crash after the rename
            except FileNotFoundError:
                pass
            return True
        try:
            st = self._running.pop(sha, None)
            digest = st[0].hexdigest() if st is not None and st[1] == n else sha256_file(part)
            if digest != sha:
                return self._final_ok(final, sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, final)
            self._dirs_to_sync.add(final.parent)
            return True                  # fsynced, hashed, renamed
        except FileNotFoundError:        # another central renamed it first
            self._dirs_to_sync.add(final.parent)
            return self._final_ok(final, sha)

    def _locate_bad_chunks(self, sha: str, part: Path) -> list[int]:
        """Chunks of a staging file that does not hash to its name whose bytes do not match
        their own SHA-256: the ones to ask for again ([] when every chunk matches, i.e. the
        sender's file itself differs from its name)."""
        bad = []
        try:
            with open(part, "rb") as f:
                for idx, csha in (cdb.Chunk.select(cdb.Chunk.idx, cdb.Chunk.chunk_sha256)
                                  .where(cdb.Chunk.sha256 == sha).order_by(cdb.Chunk.idx)
                                  .tuples()):
                    f.seek(idx * CHUNK_SIZE)
                    if hashlib.sha256(f.read(CHUNK_SIZE)).hexdigest() != csha:
                        bad.append(idx)
        except FileNotFoundError:
            return []
        return bad

    def _complete_images(self, touched, replies) -> list[str]:
        ready = []
        for sha in touched:
            rows = self._select("chunk_sizes", lambda h: cdb.Chunk.select(cdb.Chunk.nchunks,
                                                                          cdb.Chunk.size)
                                .where(cdb.Chunk.sha256 == h), sha)
            if rows and len(rows) >= rows[0][0]:
                ready.append((sha, rows[0][1], rows[0][0]))
        self.writer.seal([(sha, size) for sha, size, _n in ready])
        done = []
        for sha, size, n in ready:
            final = self.blobs / sha[:2] / sha
            part = self.writer.path(sha)
            if self._assemble(sha, size, n, part, final):
                cdb.Blob.insert(sha256=sha, size=size, path=f"{sha[:2]}/{sha}").on_conflict_ignore().execute()
                cdb.Chunk.delete().where(cdb.Chunk.sha256 == sha).execute()
                self._count("blobs_committed")
                done.append(sha)
                continue
            self._count("hash_mismatch")
            bad = self._locate_bad_chunks(sha, part)
            if bad:
                log.error("image %s: chunks %s do not match their SHA-256; asking for them again",
                          sha, bad)
                cdb.Chunk.delete().where((cdb.Chunk.sha256 == sha)
                                         & cdb.Chunk.idx.in_(bad)).execute()
                image = {"sha256": sha, "missing": bad}
            else:
                log.error("image %s: the assembled file does not hash to its name; "
                          "dropping its chunks and asking again", sha)
                cdb.Chunk.delete().where(cdb.Chunk.sha256 == sha).execute()
                try:
                    part.unlink()
                except FileNotFoundError:
                    pass
                image = {"sha256": sha, "missing": list(range(n)), "error": "hash_mismatch"}
            for su, dev in (cdb.StagedImage.select(cdb.StagedImage.record_uuid,
                                                   cdb.StagedRecord.device)
                            .join(cdb.StagedRecord, on=(cdb.StagedRecord.uuid
                                                        == cdb.StagedImage.record_uuid))
                            .where(cdb.StagedImage.sha256 == sha).tuples()):
                replies.append((t_image(dev), {"record_uuid": su, "images": [image]}))
        return done
