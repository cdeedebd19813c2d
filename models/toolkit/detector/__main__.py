"""``python -m models.toolkit.detector train|export ...`` (see train.py)."""
import sys

from .train import main

sys.exit(main())
