"""The claim classifier's toolkit (models/claim-classifier): data, training, export, evaluation,
leave one source out, model card. Entry point: claim-edge-train."""
