"""The plate sources: their names and regions, the further plate sources kept outside
../shared/data, operators' corrected plates, and the characters a read is scored on. Shared by
the detector's and the plate reader's data and by the plate evaluation; torch- and cv2-free."""
from __future__ import annotations

import csv
from pathlib import Path

from .. import sources as D
from ..corrections import SOURCE, check_export

# The plate photos' sources, each measured on its own (and held out in turn: leave one source
# out). plate_photos splits by region; plate_scenes by the repository the photo came from.
PLATE_SOURCES = ("openalpr-eu", "openalpr-br", "ucsd-us", "easypr-ccpd-cn")
SOURCE_REGION = {"openalpr-eu": "eu", "openalpr-br": "br", "ucsd-us": "us", "easypr-ccpd-cn": "cn"}
_SCENE_REPOS = {"dpetersonVT23/ece4424-spr22-proj": "ucsd-us"}
# further plate sources kept outside ../shared/data (models/plate-reader/extra_sources): a
# labels.csv row per plate; x,y,w,h empty where the image is the plate itself (a crop)
EXTRA_PLATE_COLUMNS = ("image", "region", "plate", "x", "y", "w", "h")


def source_region(sample: dict) -> str:
    """The plate region a photo's reads are normalised for: its source's, or the region its
    labels name where the readers know it ("" for any: a further source from elsewhere)."""
    from edge.plates import REGIONS
    region = SOURCE_REGION.get(sample.get("plate_source", ""), sample.get("region", ""))
    return region if region in REGIONS else ""


def scene_source(source_repo: str, region: str) -> str:
    """plate_scenes' per-source name: UCSD for its US repository, EasyPR+CCPD for the Chinese
    ones (the CCPD samples are too few to stand alone)."""
    return _SCENE_REPOS.get(source_repo, "easypr-ccpd-cn" if region == "cn" else f"other-{region}")


def read_extra_plates(root: str | Path) -> dict[str, list[dict]]:
    """``root/<source>/labels.csv`` of every further plate source, by source, each row with
    ``path`` (its image) and ``box`` (x, y, w, h; None for a crop). A missing column, an empty
    plate or a half-given box is refused with the file and the image named."""
    out = D.read_sources(root, EXTRA_PLATE_COLUMNS)
    for source, rows in out.items():
        folder = Path(root) / source
        for r in rows:
            given = [r[k].strip() for k in ("x", "y", "w", "h")]
            if not r["plate"].strip() or any(given) and not all(given):
                raise SystemExit(f"{folder / 'labels.csv'}: {r['image']}: needs a plate text and "
                                 "either all of x,y,w,h or none")
            r["path"] = str(folder / r["image"])
            r["box"] = [float(v) for v in given] if all(given) else None
    return out


def corrected_plates(export_dir: str | Path) -> list[dict]:
    """An export of central's corrected plates as plate-reader samples (plates/data.py format)."""
    d = check_export(export_dir)
    p = d / "plate_photos" / "labels.csv"
    if not p.is_file():
        return []
    out = []
    with open(p, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            out.append({"path": str(d / "plate_photos" / r["image"]), "text": r["plate"],
                        "box": [float(r[k]) for k in ("x", "y", "w", "h")], "split": "train",
                        "key": f"{SOURCE}/{Path(r['image']).name}", "region": r["region"],
                        "corrected": True})
    return out


def registration(plate: str, region: str) -> str:
    """The characters the readers are scored on: a Chinese plate without its province."""
    if region == "cn" and plate and not plate[0].isascii():
        return plate[1:]
    return plate
