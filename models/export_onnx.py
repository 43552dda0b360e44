"""`python -m models.export_onnx MODEL_DIR [--scenes DIR]`: add the ONNX file that a GPU host
without TensorFlow serves, checked against the TFLite file on the annotated faces of DIR (else on
random crops)."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from models.classifier import ModelInfo
from models.crops import scene_crops
from models.onnxclassifier import export_onnx


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m models.export_onnx", description=__doc__)
    p.add_argument("model_dir", type=Path, help="a classifier folder (metadata.json, its TFLite file)")
    p.add_argument("--scenes", type=Path, help="annotated scenes whose faces check the export")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    info = ModelInfo.load(args.model_dir)
    crops = scene_crops(args.scenes, None, info.input_size, info.crop_margin) if args.scenes else None
    print(json.dumps(export_onnx(args.model_dir, crops), indent=2))


if __name__ == "__main__":
    main()
