"""`python -m maskwatch.models.training.export_onnx MODEL_DIR [--scenes DIR]`: add the ONNX file that a GPU host
without TensorFlow serves, checked against the TFLite file on the annotated faces of DIR (else on
random crops)."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from maskwatch.models.classifier import _TFLiteRunner
from maskwatch.models.evaluation.voc import scene_crops
from maskwatch.models.modelinfo import METADATA, ModelError, ModelInfo
from maskwatch.models.onnxclassifier import ONNX_FILE, OPSET, OrtRunner, plain_input

log = logging.getLogger(__name__)


def export_onnx(model_dir: Path, check_crops: np.ndarray | None = None) -> dict:
    """Write the folder's ONNX file from its TFLite file, check both agree, record it in metadata."""
    try:
        import tf2onnx
    except ImportError as e:
        raise ModelError("the ONNX export needs tf2onnx: pip install 'maskwatch[ml]'") from e
    info = ModelInfo.load(model_dir)
    path = info.dir / ONNX_FILE
    tf2onnx.convert.from_tflite(str(info.dir / info.tflite_file), opset=OPSET, output_path=str(path))
    path.write_bytes(plain_input(path.read_bytes())[0])  # a name TensorRT's profiles can hold
    x = check_crops if check_crops is not None else \
        np.random.default_rng(0).integers(0, 256, (64, info.input_size, info.input_size, 3))
    x = np.asarray(x, np.float32)
    ref = _TFLiteRunner(info.dir / info.tflite_file, info.input_size, None)
    got = OrtRunner(path)
    diffs = [np.abs(ref(x[i:i + 32])[0] - got(x[i:i + 32])[0]).max() for i in range(0, len(x), 32)]  # raw outputs
    check = {"crops": int(len(x)), "max_abs_diff_vs_tflite": float(max(diffs)), "opset": OPSET}
    if check["max_abs_diff_vs_tflite"] > 1e-3:
        path.unlink()
        raise ModelError(f"ONNX export of {info.dir} differs from its TFLite file by {check['max_abs_diff_vs_tflite']}")
    meta = dict(info.raw, files=dict(info.raw["files"], onnx=ONNX_FILE), onnx_check=check)
    (info.dir / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
    log.info("classifier %s: ONNX export %s agrees with TFLite (max diff %.2g)", info.dir, path.name,
             check["max_abs_diff_vs_tflite"])
    return check


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__)
    p.add_argument("model_dir", type=Path, help="a classifier folder (metadata.json, its TFLite file)")
    p.add_argument("--scenes", type=Path, help="annotated scenes whose faces check the export")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    info = ModelInfo.load(args.model_dir)
    crops = scene_crops(args.scenes, None, info.input_size, info.crop_margin) if args.scenes else None
    print(json.dumps(export_onnx(args.model_dir, crops), indent=2))


if __name__ == "__main__":
    main()
