"""The plate reader's toolkit (models/plate-reader): plate data and generated plates, training,
plate evaluation by source, leave one plate source out."""
