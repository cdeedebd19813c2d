"""Per-photo error codes. A failed photo gets one of these in its output and the run goes on."""

from __future__ import annotations

CODES = {
    "not_found": "no such file",
    "unreadable": "the file cannot be read",
    "empty_file": "the file is empty",
    "file_too_large": "the file is larger than the profile allows",
    "not_an_image": "the file is not an image",
    "unsupported_format": "an image format this device cannot decode",
    "truncated_image": "the image file is cut short (incomplete copy or transfer)",
    "corrupt_image": "the image data is damaged and cannot be decoded",
    "decode_failed": "the image decoder failed on this file; the message says why",
    "image_too_large": "declared dimensions are too large (decompression bomb guard)",
    "image_too_small": "the image is too small to analyse",
    "store_write_failed": "the photo could not be written to the store",
    "model_error": "the model failed on this photo",
    "stage_failed": "a processing stage failed on this photo; the message names the stage",
    "internal_error": "an unexpected error; see the message",
}


class PhotoError(Exception):
    """An error tied to one photo, with a stable code from CODES."""

    def __init__(self, code: str, message: str):
        assert code in CODES, code
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
