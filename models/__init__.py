"""Face detector and mask classifier as a worker serves them, and the shipped weights.

Three rooms beside this one: training/ and evaluation/ (the product's commands), studies/ (research,
run from a checkout, never in the wheel, never imported by the product).

The only package of maskwatch that may import TensorFlow, and only lazily: the detector and the
TFLite inference path need OpenCV and LiteRT alone.
"""
from maskwatch.paths import weights_dir

WEIGHTS_DIR = weights_dir()
