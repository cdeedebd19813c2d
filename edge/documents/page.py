"""The sheet in a document photo: a page or card lying on a darker table, seat or bonnet is read
alone, so the text detector spends its pixels on the text (``[ocr] find_page``).

On the bench's page photographed on a table the sheet is about half of the frame: the document
photo takes 659-713 ms instead of 838 ms (``claim-edge bench``), with the text seen at the same
size. A scan or a close-up that fills the frame is read whole, and so is a scan whose light border
passes for a surface: there the print outside the largest blob (a passport's zone beside its
photo, the rest of a form) shows that the blob is not the sheet."""

from __future__ import annotations

import cv2
import numpy as np

from ..ocr import OcrEngine, RawLine

WORK_SIDE = 400        # the search runs on the photo shrunk to this long side
BORDER = 0.03          # the frame's edge strips (of the short side) show what the sheet lies on
MIN_FRACTION = 0.15    # a sheet smaller than this part of the frame is not trusted
MAX_FRACTION = 0.85    # one larger fills the frame: nothing to gain from cropping
MIN_DISTANCE = 30      # colour distance from the surface that counts as "not the surface"
MARGIN = 0.02          # of the frame's long side, around the sheet's bounding box
MAX_OUTSIDE = 0.1      # "not the surface" outside the sheet's box, as a part of the sheet's area
PAGE_FINDER = 2        # the finder's version, in the OCR cache's key (cache_settings)


def cache_settings(find: bool) -> dict:
    """The page finder's part of the OCR cache's key: a page read with another finder is stale."""
    return {"find_page": find, **({"page_finder": PAGE_FINDER} if find else {})}


def find_page(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the sheet lying on a surface in a photo (BGR or grey), or None when
    there is no clear one (a scan, a close-up, a white page on a white table, a sheet running
    off the frame). The surface is what the frame's edges show; the sheet is everything that
    differs from it, dark header bands and photos included."""
    h, w = image.shape[:2]
    s = WORK_SIDE / max(h, w)
    small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)
    if small.ndim == 2:
        small = small[:, :, None]
    sh, sw = small.shape[:2]
    k = max(2, round(BORDER * min(sh, sw)))
    if min(sh, sw) <= 4 * k:
        return None
    edge = np.concatenate([small[:k].reshape(-1, small.shape[2]),
                           small[-k:].reshape(-1, small.shape[2]),
                           small[:, :k].reshape(-1, small.shape[2]),
                           small[:, -k:].reshape(-1, small.shape[2])])
    surface = np.median(edge, axis=0)
    edge_d = np.linalg.norm(edge - surface, axis=1)
    limit = max(MIN_DISTANCE, 2 * float(np.percentile(edge_d, 90)))  # the surface's texture
    if np.mean(edge_d > limit) > 0.1:
        return None  # the edges are not one surface: the sheet runs off the frame
    sheet = (np.linalg.norm(small - surface, axis=2) > limit).astype(np.uint8)
    sheet = cv2.morphologyEx(sheet, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(sheet)
    if n < 2:
        return None
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, bw, bh, area = (int(v) for v in stats[i])
    if not MIN_FRACTION <= bw * bh / (sh * sw) <= MAX_FRACTION:
        return None
    outside = int(sheet.sum()) - int(sheet[y:y + bh, x:x + bw].sum())
    if outside > MAX_OUTSIDE * area:
        return None  # print outside the blob: a scan on a light border, not a sheet on a surface
    inside = np.median(small[y:y + bh, x:x + bw].reshape(-1, small.shape[2]), axis=0)
    if np.linalg.norm(inside - surface) <= limit:
        return None  # mostly the surface's colour: print on a page that fills the frame
    m = MARGIN * WORK_SIDE
    return (max(0, int((x - m) / s)), max(0, int((y - m) / s)),
            min(w, int(np.ceil((x + bw + m) / s))), min(h, int(np.ceil((y + bh + m) / s))))


def read_document(engine: OcrEngine, image: np.ndarray, det_max_side: int = 0,
                  find: bool = True) -> list[RawLine]:
    """OCR of a document photo, lines in ``image``'s pixels. With ``find``, only the sheet
    (``find_page``) is read, with the text detector's side cut in proportion, so the text is
    seen at the size it has in the whole photo."""
    box = find_page(image) if find else None
    if box is None:
        return engine.read_raw(image)
    x0, y0, x1, y1 = box
    side = None
    if det_max_side:
        side = max(32, round(det_max_side * max(x1 - x0, y1 - y0) / max(image.shape[:2])))
    return [r.shifted(x0, y0) for r in engine.read_raw(image[y0:y1, x0:x1], side)]
