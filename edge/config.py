"""Device profiles: TOML files in ``firmware_config/`` read into frozen dataclasses.

Strict: an unknown key, a wrong type or a missing file is a ConfigError naming the file and the
key. Secrets never live in the TOML: the broker password comes from an environment variable or a
file the profile names.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (JetPack 6): the same parser as a package
    import tomli as tomllib

PROFILE_DIR = Path(__file__).resolve().parent.parent / "firmware_config"
DEFAULT_PROFILE = "kiosk-x86"
PROFILE_ENV = "CLAIM_EDGE_PROFILE"

CATEGORIES = ("vehicle", "damage", "plate", "vin", "document", "other")
SCENARIOS = ("damage_assessment", "vehicle_identification", "identity_verification",
             "claim_documents", "review")
DOCUMENT_TYPES = ("driver_license", "vehicle_registration", "id_card", "insurance_card",
                  "receipt_invoice", "repair_estimate", "accident_report", "other_document")
FIELD_NAMES = ("plate", "vin", "name", "license_number", "document_number", "nationality",
               "date_of_birth", "expiry_date", "vendor", "address", "date", "total", "tax",
               "invoice_number", "policy_number")
DETECT_LABELS = ("plate", "vin", "damage", "text_block")
# category vs damage head policies (edge/classifier/consistency.py)
CONSISTENCY = ("joint", "review", "off")


class ConfigError(Exception):
    """A profile that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class DeviceConfig:
    id: str
    name: str = ""


@dataclass(frozen=True)
class RuntimeConfig:
    threads: int = 2
    classifier: str = "claim-classifier"  # bundle name under models/, or a path
    classify_max_side: int = 640          # reduced decode target for classification
    max_file_mb: int = 64
    max_pixels: int = 120_000_000         # decompression-bomb guard (declared width x height)
    max_decode_mb: int = 512              # memory one full-resolution decode may take (see decode.py)
    interpreter: str = "auto"             # TFLite package: auto | ai-edge-litert | tflite-runtime


@dataclass(frozen=True)
class QualityConfig:
    min_side: int = 200
    min_sharpness: float = 40.0       # variance of the Laplacian at 640 px long side
    min_brightness: float = 0.18      # mean luma 0..1 (and the brightest 1% under twice this)
    max_brightness: float = 0.90      # mean luma 0..1 (and the darkest 1% above this - 0.15)
    max_glare: float = 0.06           # fraction of near-saturated pixels in bright blobs


@dataclass(frozen=True)
class VerifyConfig:
    min_score: float = 0.5            # category score below this -> review, whatever the prototype
    consistency: str = "joint"        # category vs damage head: joint | review | off
                                      # (edge/classifier/consistency.py)


@dataclass(frozen=True)
class RoutingConfig:
    category: dict[str, list[str]] = field(default_factory=dict)
    document: dict[str, list[str]] = field(default_factory=dict)
    damaged: list[str] = field(default_factory=lambda: ["damage_assessment"])


@dataclass(frozen=True)
class RequiredPhoto:
    item: str
    category: str
    view: str = ""
    document: str = ""
    count: int = 1


@dataclass(frozen=True)
class ClaimConfig:
    required_photos: list[RequiredPhoto] = field(default_factory=list)


@dataclass(frozen=True)
class DocumentsConfig:
    required_fields: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectConfig:
    """Detector and the small-region zoom (second pass), see edge/detect/."""
    detector: str = "detector"          # bundle name under models/, or a path; "" = no detection
    score_threshold: float = 0.35       # first-pass detections below this are dropped
    nms_iou: float = 0.5                # per-class NMS overlap
    max_detections: int = 20
    zoom_min_side_px: int = 96          # a box whose short side (original px) is below this ...
    zoom_max_fraction: float = 0.05     # ... or whose area is below this fraction of the image: zoom
    zoom_margin: float = 0.5            # crop margin around a zoomed box, as a fraction of its size
    zoom_max_boxes: int = 4             # at most this many second passes per photo
    zoom_labels: list[str] = field(default_factory=lambda: ["plate"])  # see the profiles
    zoom_min_score: float = 0.1         # small boxes of zoom_labels from this score are zoomed; one
                                        # under score_threshold is kept only if the zoom confirms it
    tile_categories: list[str] = field(default_factory=lambda: ["plate", "vin"])
    tile_min_side_px: int = 1600        # tile a photo this large when the first pass finds none
    wide_tile_categories: list[str] = field(default_factory=list)  # also tile a photo of these
                                        # categories when something was found: distant plates of
                                        # a wide shot (see the profiles for what it costs)
    wide_tile_min_side_px: int = 1000   # ... from this size
    wide_tile_grid: int = 2             # ... in n x n tiles: n * n more detector passes
    read_plates: bool = True            # read plate text from plate detections (edge/plates/)
    plate_region: str = ""              # expected plate region: "us", "eu", "br", "cn" or "" (any)
    plate_reader: str = "plate-reader+rapidocr"  # bundle(s) or "rapidocr", in order of trust
    plate_settled: float = 0.0          # a first reader's read that fits a region's layout with
                                        # this confidence is final: the later ones are not asked
                                        # (0: always asked; edge/plates/)
    box_refiner: str = "box-refiner"    # bundle that moves boxes onto edges; "" = off
                                        # (edge/detect/refine.py)
    refine_labels: list[str] = field(default_factory=lambda: ["vin"])  # labels it refines
    refine_min_score: float = 0.1       # boxes of those labels from this score are refined, and
    refine_min_quality: float = 0.5     # kept under score_threshold if the refiner's quality is this


@dataclass(frozen=True)
class OcrConfig:
    enabled: bool = True
    always: bool = False              # OCR every photo (a document scanner kiosk; tests)
    # plates are read by the plate reader ([detect] read_plates); add "plate" here to OCR them too
    categories: list[str] = field(default_factory=lambda: ["document", "vin"])
    detections: list[str] = field(default_factory=lambda: ["vin", "text_block"])
    threads: int = 0                  # ONNX Runtime intra-op threads; 0 = runtime.threads
    max_side: int = 1600              # long side the OCR sees (RapidOCR shrinks above 2000)
    det_max_side: int = 0             # long side its text detector sees (0: RapidOCR's rule)
    rec_model: str = "text-recognizer"  # recogniser bundle, "rapidocr" or an .onnx path (edge.ocr.models)
    rec_keys: str = ""                # the .onnx recogniser's character dictionary
    det_model: str = ""               # text detector bundle (kind ocr_detector); "" = RapidOCR's own
    find_page: bool = True            # read only the sheet of a page photo (edge/documents/page.py)
    word_boxes: bool = True           # per-character boxes, to put dropped word gaps back
    min_score: float = 0.5            # text lines read with a lower score are dropped
    day_first: bool = True            # 03/04/2019 is 3 April (recorded as an assumption)
    cache: bool = True                # OCR output cached by image sha256
    cache_dir: str = ""               # "" = ocr-cache/ beside the store database
    document_model: str = "document-classifier"  # bundle under models/, or a path


@dataclass(frozen=True)
class StoreConfig:
    path: str = "~/.claim-edge/store.db"
    min_free_mb: int = 200

    @property
    def resolved(self) -> Path:
        return Path(os.path.expandvars(os.path.expanduser(self.path)))


@dataclass(frozen=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""                # = device id when empty
    password_env: str = "CLAIM_EDGE_BROKER_PASSWORD"
    password_file: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""               # client certificate for mTLS (the broker's TLS listener
    key_file: str = ""                # takes the device id from its CN); implies tls
    keepalive: int = 30
    client_id: str = ""

    def password(self) -> str | None:
        """The broker password from the environment variable or the file the profile names."""
        if self.password_env and os.environ.get(self.password_env):
            return os.environ[self.password_env]
        if self.password_file:
            p = Path(os.path.expanduser(self.password_file))
            try:
                return p.read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ConfigError(f"{p}: cannot read broker password file ({e.strerror})") from e
        return None


@dataclass(frozen=True)
class FleetConfig:
    channel: str = "stable"
    public_keys: list[str] = field(default_factory=list)  # pinned ed25519 keys (base64), two
    models_dir: str = ""                  # installed updates; default: models/ beside the store
    max_classify_ms: float = 100.0        # health check: canary latency budget

    def resolved_models_dir(self, store: "StoreConfig") -> Path:
        if self.models_dir:
            return Path(os.path.expandvars(os.path.expanduser(self.models_dir)))
        return store.resolved.parent / "models"


@dataclass(frozen=True)
class Profile:
    device: DeviceConfig
    source: str = ""
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    retention_days: dict[str, int] = field(default_factory=dict)  # per scenario; 0 = keep
    claim: ClaimConfig = field(default_factory=ClaimConfig)
    documents: DocumentsConfig = field(default_factory=DocumentsConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)

    @property
    def name(self) -> str:
        return Path(self.source).stem if self.source else ""


# --- strict TOML -> dataclass -------------------------------------------------------------------

def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return [_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return {k: _convert(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        raise TypeError("unions are not used in profiles")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool) or not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} "
                          f"({value!r})")
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        if key not in fields or key == "source":
            hint = ""
            if key == "password":
                hint = " (secrets never go in a profile: use password_env or password_file)"
            raise ConfigError(f"{where}: unknown key '{key}'{hint}; known: "
                              f"{', '.join(k for k in fields if k != 'source')}")
        kwargs[key] = _convert(value, hints[key], f"{where}.{key}")
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING \
                and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key '{name}'")
    return cls(**kwargs)


def _check_vocabularies(p: Profile, path: Path) -> None:
    def bad(key: str, value: str, allowed: tuple[str, ...]) -> ConfigError:
        return ConfigError(f"{path}: key '{key}': {value!r} is not one of {', '.join(allowed)}")

    for cat, scen in p.routing.category.items():
        if cat not in CATEGORIES:
            raise bad(f"routing.category.{cat}", cat, CATEGORIES)
        for s in scen:
            if s not in SCENARIOS:
                raise bad(f"routing.category.{cat}", s, SCENARIOS)
    for doc, scen in p.routing.document.items():
        if doc not in DOCUMENT_TYPES:
            raise bad(f"routing.document.{doc}", doc, DOCUMENT_TYPES)
        for s in scen:
            if s not in SCENARIOS:
                raise bad(f"routing.document.{doc}", s, SCENARIOS)
    for s in p.routing.damaged:
        if s not in SCENARIOS:
            raise bad("routing.damaged", s, SCENARIOS)
    for s in p.retention_days:
        if s not in SCENARIOS:
            raise bad(f"retention_days.{s}", s, SCENARIOS)
    for doc, names in p.documents.required_fields.items():
        if doc not in DOCUMENT_TYPES:
            raise bad(f"documents.required_fields.{doc}", doc, DOCUMENT_TYPES)
        for n in names:
            if n not in FIELD_NAMES:
                raise bad(f"documents.required_fields.{doc}", n, FIELD_NAMES)
    for i, rp in enumerate(p.claim.required_photos):
        if rp.category not in CATEGORIES:
            raise bad(f"claim.required_photos[{i}].category", rp.category, CATEGORIES)
        if rp.document and rp.document not in DOCUMENT_TYPES:
            raise bad(f"claim.required_photos[{i}].document", rp.document, DOCUMENT_TYPES)
    if p.verify.consistency not in CONSISTENCY:
        raise bad("verify.consistency", p.verify.consistency, CONSISTENCY)
    for key in ("score_threshold", "refine_min_score", "zoom_min_score", "nms_iou"):
        v = getattr(p.detect, key)
        if not 0.0 < v <= 1.0:
            raise ConfigError(f"{path}: key 'detect.{key}': {v} is not in (0, 1]")
    if not 0.0 <= p.detect.plate_settled <= 1.0:
        raise ConfigError(f"{path}: key 'detect.plate_settled': {p.detect.plate_settled} is not "
                          "in [0, 1]")
    if not 0.0 <= p.detect.refine_min_quality <= 1.0:
        raise ConfigError(f"{path}: key 'detect.refine_min_quality': "
                          f"{p.detect.refine_min_quality} is not in [0, 1]")
    for key in ("zoom_labels", "refine_labels"):
        for lab in getattr(p.detect, key):
            if lab not in DETECT_LABELS:
                raise bad(f"detect.{key}", lab, DETECT_LABELS)
    for key in ("tile_categories", "wide_tile_categories"):
        for c in getattr(p.detect, key):
            if c not in CATEGORIES:
                raise bad(f"detect.{key}", c, CATEGORIES)
    if p.detect.wide_tile_grid not in (2, 3):
        raise bad("detect.wide_tile_grid", p.detect.wide_tile_grid, ("2", "3"))
    if p.detect.plate_region not in ("", "us", "eu", "br", "cn"):
        raise bad("detect.plate_region", p.detect.plate_region, ("", "us", "eu", "br", "cn"))
    for c in p.ocr.categories:
        if c not in CATEGORIES:
            raise bad("ocr.categories", c, CATEGORIES)
    for lab in p.ocr.detections:
        if lab not in DETECT_LABELS:
            raise bad("ocr.detections", lab, DETECT_LABELS)
    from .ocr import models as ocr_models  # edge.ocr imports the result types, which import us
    if not ocr_models.valid_name(p.ocr.rec_model):
        raise ConfigError(f"{path}: key 'ocr.rec_model': {p.ocr.rec_model!r} is not a recogniser "
                          f"bundle (under models/: {ocr_models.DEFAULT_RECOGNISER}; or a folder), "
                          f"{ocr_models.RAPIDOCR} nor a path to an .onnx file")
    if p.ocr.threads < 0 or p.ocr.max_side < 64:
        raise ConfigError(f"{path}: key 'ocr.threads' must be >= 0 and 'ocr.max_side' >= 64")
    from .inference import RUNTIME_CHOICES
    if p.runtime.interpreter not in RUNTIME_CHOICES:
        raise bad("runtime.interpreter", p.runtime.interpreter, RUNTIME_CHOICES)
    if p.runtime.threads < 1:
        raise ConfigError(f"{path}: key 'runtime.threads' must be >= 1")
    if p.runtime.max_decode_mb < 16:
        raise ConfigError(f"{path}: key 'runtime.max_decode_mb': {p.runtime.max_decode_mb} is "
                          "under 16 MB (not even a 3 MP photo could be decoded)")


def load_profile_file(path: str | Path) -> Profile:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: profile file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read profile ({e.strerror})") from e
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from e
    profile = _build(Profile, data, str(path))
    profile = dataclasses.replace(profile, source=str(path))
    _check_vocabularies(profile, path)
    return profile


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | None = None) -> Profile:
    """A profile by name (``firmware_config/NAME.toml``) or by path; default from the
    environment variable CLAIM_EDGE_PROFILE, else kiosk-x86."""
    name = name_or_path or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name.endswith(".toml") or os.sep in name:
        return load_profile_file(name)
    path = PROFILE_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"{path}: profile file not found; known profiles: "
                          f"{', '.join(available_profiles())}")
    return load_profile_file(path)
