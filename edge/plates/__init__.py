"""Licence plates on the device: reading a detected plate (read.py: crop, rectify, recognise)
and normalising the read per region (normalize.py), with the project's CTC reader (ctc.py), the
region layouts (layouts.py), the state-slogan and frame noise a US read drops (noise.py) and the
rectifier (rectify.py). What the rest of the device uses is named here."""
from .layouts import REGIONS
from .normalize import (PlateRead, best_candidate, fits_named_layout, normalize_plate,
                        plates_agree, region_of)
from .read import (US_UNSURE, CombinedPlateRecognizer, PlateRecognizer, RapidPlateRecognizer,
                   open_recognizer, plate_crop, read_plate_field, read_plate_image)
from .rectify import rectify

__all__ = ["REGIONS", "PlateRead", "best_candidate", "fits_named_layout", "normalize_plate",
           "plates_agree", "region_of", "US_UNSURE", "CombinedPlateRecognizer", "PlateRecognizer",
           "RapidPlateRecognizer", "open_recognizer", "plate_crop", "read_plate_field",
           "read_plate_image", "rectify"]
