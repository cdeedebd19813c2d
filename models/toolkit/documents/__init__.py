"""The document models' toolkit (models/document-classifier, models/text-detector, the bill
reader's lexicon and typer): real and generated documents, training, evaluation."""
