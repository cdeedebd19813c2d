"""Label vocabularies of the multi-task classifier (DESIGN.md). No torch import: the evaluation
entry point runs in the device environment."""
CATEGORY = ["vehicle", "damage", "plate", "vin", "document", "other"]
DAMAGE = ["none", "minor", "moderate", "severe"]
VIEW = ["front", "rear", "left", "right", "interior", "unknown"]
HEADS = {"category": CATEGORY, "damage": DAMAGE, "view": VIEW}
EMB_DIM = 128
