"""Detection on the device (DESIGN method 3): the detector bundle (model.py) and the decoding of
its outputs (boxes.py), the zoom and tile rules of the second pass (zoom.py), the passes over one
photo (passes.py), the VIN box refiner (refine.py) and the pipeline stages (stages.py). What the
rest of the device uses is named here."""
from .boxes import clip_box, decode_level, iou_xywh, nms, to_original
from .model import Detector, open_detector
from .passes import DetectTimings, detect_photo, refine_detections
from .stages import DetectStage, PlateStage
from .zoom import needs_zoom, pick_second_pass, tiles, zoom_crop

__all__ = ["clip_box", "decode_level", "iou_xywh", "nms", "to_original", "Detector",
           "open_detector", "DetectTimings", "detect_photo", "refine_detections", "DetectStage",
           "PlateStage", "needs_zoom", "pick_second_pass", "tiles", "zoom_crop"]
