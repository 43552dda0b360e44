"""maskwatch: find people without a face mask across many CCTV cameras.

This package holds what every service shares: the config model, the typed values passed between
stages, wire formats, storage and the `maskwatch` CLI. It never imports TensorFlow.
"""

__version__ = "0.1.0"
