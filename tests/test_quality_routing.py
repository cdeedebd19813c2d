"""Quality gate reasons, label -> scenario routing, and verified-label decisions."""

import numpy as np

from edge import samples
from edge.bundle import Prototype
from edge.config import QualityConfig, load_profile
from edge.quality import measure
from edge.routing import route
from edge.classifier.verify import verify

CFG = QualityConfig()


def issues(img):
    return measure(img, (img.shape[1], img.shape[0]), CFG).issues


def test_quality_says_why_to_retake():
    scene = samples.street_scene()
    assert issues(scene) == []
    assert "blurred" in issues(samples.blurred(scene))
    assert "too_dark" in issues(samples.dark(scene))
    washed = np.full_like(scene, 250)
    washed[::7] = 240
    assert "overexposed" in issues(washed)
    glare = scene.copy()
    glare[150:400, 450:750] = 255  # a specular patch in the middle of the car
    assert issues(glare) == ["glare"]
    tiny = samples.street_scene(160, 120)
    assert "too_small" in issues(tiny)


def test_white_page_is_not_overexposed_or_glare():
    page = samples.document_page()
    assert issues(page) == []


def test_routing_follows_the_profile():
    r = load_profile("kiosk-x86").routing
    assert [s for s, _ in route(r, "plate", True, "none")] == ["vehicle_identification"]
    assert [s for s, _ in route(r, "vehicle", True, "severe")] == \
        ["damage_assessment", "vehicle_identification"]
    assert [s for s, _ in route(r, "document", True, None, "driver_license")] == \
        ["claim_documents", "identity_verification"]
    # an unverified label never files the photo in a claim zone
    assert route(r, "plate", False, "none") == [("review", "label not verified")]
    assert [s for s, _ in route(r, "other", True, "none")] == ["review"]


def test_verification_uses_prototype_range_and_score():
    protos = {"plate": Prototype(vector=(1.0, 0.0, 0.0), similarity_range=(0.7, 1.0))}
    near = np.array([0.9, 0.3, 0.0], np.float32)
    far = np.array([0.2, 1.0, 0.0], np.float32)
    assert verify("plate", 0.9, near, protos, 0.5).verified
    v = verify("plate", 0.9, far, protos, 0.5)
    assert not v.verified and "outside" in v.reason and v.similarity < 0.7
    assert not verify("plate", 0.3, near, protos, 0.5).verified   # low score
    assert not verify("vin", 0.9, near, protos, 0.5).verified     # no prototype


def test_quality_metrics_match_their_numpy_definitions():
    """The fast forms (histogram percentiles, meanStdDev) give numpy's numbers: the thresholds
    in the profiles were set on those."""
    import cv2
    from edge.quality import _percentiles
    rng = np.random.default_rng(7)
    for shape in ((1, 1), (3, 500), (480, 640), (17, 29)):
        for gray in (rng.integers(0, 256, shape).astype(np.uint8),
                     (rng.integers(0, 6, shape) * 50).astype(np.uint8),
                     np.full(shape, 250, np.uint8)):
            assert np.allclose(_percentiles(gray, (1, 99)), np.percentile(gray, (1, 99)))
            lap = cv2.Laplacian(gray, cv2.CV_64F)
            assert np.isclose(cv2.meanStdDev(lap)[1][0, 0] ** 2, lap.var())
