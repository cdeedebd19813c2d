"""The detector's toolkit (models/detector) and its box refiner (models/box-refiner): data,
network, training, int8 trunk, evaluation."""
