"""Training: the classifier's recipe, its folds, export and calibration (the product's `maskwatch train`)."""
