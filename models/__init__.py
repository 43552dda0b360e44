"""Face detector and mask classifier: wrappers, training, evaluation and the shipped weights.

The only package of maskwatch that may import TensorFlow, and only lazily: the detector and the
TFLite inference path need OpenCV and LiteRT alone.
"""
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
