"""Reading a request's body within limits: its length (411 without one, 413 over the limit, the
over-limit body drained so the browser sees the answer), its bytes in chunks, and the parts of a
multipart upload."""

from __future__ import annotations

import re
from email.parser import Parser
from email.policy import compat32
from email.utils import collapse_rfc2231_value

from .app import MB, WebError

FORM_LIMIT = 64 * 1024          # url-encoded forms (claim id, a field correction)
MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries around one uploaded file
DRAIN_LIMIT = 256 * 1024 * 1024  # an over-limit body up to this is read and dropped, so the
                                 # browser gets the answer instead of a reset connection


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str | None, bytes]]:
    """(field name, filename or None, bytes) for each part of a multipart/form-data body.
    Only the part headers go through the email parser; the data are sliced out as they are."""
    m = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type)
    if not m:
        raise WebError("Malformed upload (no multipart boundary).", code="bad_upload")
    delim = b"--" + (m.group(1) or m.group(2)).encode("latin-1")
    bad = WebError("Malformed upload (broken multipart body).", code="bad_upload")
    pos = body.find(delim)
    if pos < 0:
        raise bad
    parts = []
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            return parts
        if body[pos:pos + 2] != b"\r\n":
            raise bad
        head_end = body.find(b"\r\n\r\n", pos + 2)
        end = body.find(b"\r\n" + delim, head_end + 4) if head_end >= 0 else -1
        if end < 0:
            raise bad
        head = Parser(policy=compat32).parsestr(
            body[pos + 2:head_end + 4].decode("utf-8", "replace"), headersonly=True)
        name = head.get_param("name", header="content-disposition")
        filename = head.get_param("filename", header="content-disposition")
        if name is not None:
            parts.append((collapse_rfc2231_value(name),
                          None if filename is None else collapse_rfc2231_value(filename),
                          body[head_end + 4:end]))
        pos = end + 2


class BodyReading:
    """A mixin of the request handler (``self.headers``, ``self.rfile``, ``self.fail``)."""

    def _body_length(self, limit: int) -> int | None:
        """The request's Content-Length, or None after answering 411/413. An over-limit body is
        read and dropped (up to DRAIN_LIMIT) so that the browser sees the answer."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self.fail(411, "Send the upload with a Content-Length.", "length_required")
            return None
        try:
            n = int(self.headers.get("Content-Length") or "")
        except ValueError:
            n = -1
        if n < 0:
            self.close_connection = True
            self.fail(411, "Send the upload with a Content-Length.", "length_required")
            return None
        if n > limit:
            self.close_connection = True
            if n <= DRAIN_LIMIT:
                try:
                    for _ in self._chunks(n):
                        pass
                except ConnectionError:
                    pass
            app = self.cfg.app
            self.fail(413, f"Not added: the upload is {n / MB:.1f} MB, over the limit of "
                           f"{app.max_upload_bytes / MB:.1f} MB per photo (file_too_large).",
                      "file_too_large")
            return None
        return n

    def _chunks(self, n: int):
        left = n
        while left > 0:
            try:
                chunk = self.rfile.read(min(left, 1 << 20))
            except OSError as e:
                raise ConnectionError(str(e)) from e
            if not chunk:
                raise ConnectionError(f"the client stopped sending ({n - left} of {n} bytes)")
            left -= len(chunk)
            yield chunk

    def _read_body(self, limit: int) -> bytes | None:
        n = self._body_length(limit)
        if n is None:
            return None
        try:
            return b"".join(self._chunks(n))
        except ConnectionError:
            self.close_connection = True
            return None
