"""A plate read on generated plate images: crop -> rectify -> recognise -> normalise."""

import cv2
import numpy as np
import pytest

from edge.config import DetectConfig
from edge.plates import open_recognizer, read_plate_field, read_plate_image, rectify
from edge.result import Detection
from edge.samples import plate_closeup, plate_rect


def _plate_box(width=960, height=540):
    return plate_rect(width, height)


@pytest.fixture(scope="module", params=[DetectConfig.plate_reader, "plate-reader", "rapidocr"])
def rec(request):
    """The profiles' default (the shipped plate-reader bundle, then RapidOCR's recogniser where a
    region's layout can arbitrate) and each recogniser alone."""
    r = open_recognizer(request.param, threads=2)
    assert r.name == {"plate-reader": "ctc", "rapidocr": "rapidocr-rec"}.get(request.param, r.name)
    return r


@pytest.mark.parametrize("text,region", [("ABC1234", "br"), ("RIO2A18", "br"),
                                         ("AB123CD", "eu"), ("7XYZ123", "us")])
def test_generated_plate_reads_exactly(rec, text, region):
    img = plate_closeup(text, 960, 540, seed=len(text))
    x, y, w, h = _plate_box()
    fv = read_plate_image(img[y - 6:y + h + 6, x - 6:x + w + 6], rec, region)
    assert fv is not None and fv.value == text and fv.valid and fv.confidence > 0.5


def test_perspective_plate_is_rectified_and_read(rec):
    img = plate_closeup("BRA2E19", 960, 540, seed=5)
    x, y, w, h = _plate_box()
    crop = img[y - 30:y + h + 30, x - 30:x + w + 30]
    H, W = crop.shape[:2]
    src = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
    dst = np.float32([[0, 12], [W, 0], [W - 8, H], [6, H - 14]])
    warped = cv2.warpPerspective(crop, cv2.getPerspectiveTransform(src, dst), (W, H),
                                 borderMode=cv2.BORDER_REPLICATE)
    flat = rectify(warped, 64)
    assert flat.shape[0] == 64 and 2.0 < flat.shape[1] / 64 < 8.0
    fv = read_plate_image(warped, rec, "br")
    assert fv.value == "BRA2E19" and fv.valid


class _Decoded:
    """The DecodedImage.crop interface on an image."""

    def __init__(self, img):
        self.img = img

    def crop(self, x, y, w, h, min_width=0):
        return self.img[max(0, int(y)):int(y + h), max(0, int(x)):int(x + w)]


def test_plate_field_from_detections_in_a_photo(rec):
    img = plate_closeup("QRS4321", 960, 540, seed=9)
    x, y, w, h = _plate_box()
    dets = [Detection("plate", (x, y, w, h), 0.9, zoomed=True),
            Detection("plate", (0, 0, 40, 20), 0.4)]
    fv = read_plate_field(_Decoded(img), dets, "br", rec)
    assert fv.value == "QRS4321" and fv.valid and 0 < fv.confidence <= 0.9
    assert (fv.region, fv.format) == ("br", "BR old")   # the layout named in fields.plate


@pytest.mark.parametrize("text", ["AB123CD", "GH456JK"])
def test_a_plate_boxed_short_is_read_whole(text):
    """A detector that never saw a country's long plates boxes them short, cutting the first
    letters off: the plate is read from a wider cut too, and the whole registration wins."""
    img = plate_closeup(text, 960, 540, seed=4)
    x, y, w, h = plate_rect(960, 540)
    short = Detection("plate", (x + 0.25 * w, y, 0.75 * w, h), 0.8)
    rec = open_recognizer(DetectConfig.plate_reader, 2)
    assert read_plate_field(_Decoded(img), [short], "eu", rec).value == text


class _Fixed:
    """A recogniser that reads what it is told (for the combination rule alone)."""
    rectify = False

    def __init__(self, name, reads, prior=None):
        self.name, self.reads, self.prior = name, reads, prior

    def read(self, plate_bgr, region=""):
        return self.reads


def test_a_second_recogniser_counts_where_a_layout_arbitrates_or_the_first_is_unsure():
    from edge.plates import US_UNSURE, CombinedPlateRecognizer
    both = CombinedPlateRecognizer([_Fixed("ctc", [("7XYZ12", 0.6)]),
                                    _Fixed("rapid", [("ABC1234", 0.99), ("FOO12", 0.99)])])
    crop = np.zeros((40, 160, 3), np.uint8)
    # Brazil: the second recogniser's read fits LLLDDDD and the first one's fits nothing
    assert read_plate_image(crop, both, "br").value == "ABC1234"
    # US plates have no layout: an unsure first read lets the second compete on confidence
    assert read_plate_image(crop, both, "us").value == "ABC1234"
    # ... and a sure one decides, however confident the second reader is
    sure = CombinedPlateRecognizer([_Fixed("ctc", [("7XYZ12", US_UNSURE)]), both.members[1]])
    assert read_plate_image(crop, sure, "us").value == "7XYZ12"


def test_the_layout_prior_settles_the_readers_letter_digit_disagreement():
    """RapidOCR reads California's open-topped 4 as L, more confidently than the plate reader
    reads the 4: the plate reader's prior (DLLLDDD common, LLLLDDD unseen) decides."""
    from edge.plates.ctc import ShapePrior
    from edge.plates import CombinedPlateRecognizer
    prior = ShapePrior({"us": {"DLLLDDD": 17, "LLLDDD": 78}}, weight=1.0, floor=0.01)
    crop = np.zeros((40, 160, 3), np.uint8)
    rapid = _Fixed("rapid", [("LYTD483", 0.99), ("LYTD483", 0.95)])
    both = CombinedPlateRecognizer([_Fixed("ctc", [("4YTD483", 0.57)], prior), rapid])
    assert both.prior is prior
    fv = read_plate_image(crop, both, "us")
    assert fv.value == "4YTD483" and fv.confidence == 0.57
    # without a prior the most confident read wins, as before
    assert read_plate_image(crop, CombinedPlateRecognizer([_Fixed("ctc", [("4YTD483", 0.57)]),
                                                           rapid]), "us").value == "LYTD483"
    # a prior that counted none of the region's plates says nothing of them: confidence decides
    eu_only = ShapePrior({"eu": {"DLLLDDD": 17}}, weight=1.0, floor=0.01)
    assert read_plate_image(crop, CombinedPlateRecognizer([_Fixed("ctc", [("4YTD483", 0.57)],
                                                                  eu_only), rapid]),
                            "us").value == "LYTD483"
    # the prior weighs layouts, not lengths: a read of another length is no rival
    rapid.reads = [("YTD483", 0.99)]
    assert read_plate_image(crop, both, "us").value == "YTD483"


def test_a_sure_us_read_is_not_read_again_from_the_wider_cut():
    """On a US plate the wider cut squeezes the characters and drops the first one; it is read
    only where the first cut's read is unsure."""
    from edge.plates import US_UNSURE, read_plate_field
    from edge.result import Detection

    class Cuts:
        name, rectify, prior = "cuts", False, None

        def __init__(self, conf):
            self.conf, self.seen = conf, []

        def read(self, img, region=""):
            self.seen.append(img.shape[1])
            return [("4HAT861", self.conf)] if len(self.seen) == 1 else [("HAT861", 0.995)]

    plate = [Detection("plate", (100, 100, 200, 100), 1.0)]
    photo = _Decoded(np.zeros((400, 600, 3), np.uint8))
    sure = Cuts(US_UNSURE)
    assert read_plate_field(photo, plate, "us", sure).value == "4HAT861"
    assert len(sure.seen) == 1
    unsure = Cuts(US_UNSURE - 0.1)
    assert read_plate_field(photo, plate, "us", unsure).value == "HAT861"
    assert len(unsure.seen) == 2


def test_a_settled_first_read_does_not_ask_the_later_reader():
    """The dedicated reader's confident read of a layout (ZOM1234: LLLDDDD) ends the search;
    a read that fits only a loose shape (A12345Z: "EU generic") still asks RapidOCR."""
    asked = []

    def counting(rec):
        later = rec.members[1]
        read = later.read
        later.read = lambda img, region="": asked.append(1) or read(img, region)
        return rec
    crop = plate_closeup("ZOM1234", 640, 360, seed=3)[124:236, 90:550]
    settled = counting(open_recognizer("plate-reader+rapidocr", 2, settled=0.9))
    fv = read_plate_image(crop, settled, "")
    assert fv.value == "ZOM1234" and asked == []
    fv = read_plate_image(crop, counting(open_recognizer("plate-reader+rapidocr", 2)), "")
    assert fv.value == "ZOM1234" and asked                 # 0: RapidOCR always asked
    asked.clear()
    loose = plate_closeup("A12345Z", 640, 360, seed=3)[124:236, 90:550]
    read_plate_image(loose, settled, "")
    assert asked
