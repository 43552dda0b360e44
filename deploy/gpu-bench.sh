#!/bin/sh
# Measure a GPU host: detection frames/s of 720p and classification faces/s by batch size, and GPU
# memory, through the workers' own batched path (models/gpubench.py; JSON under out/bench/).
#
#   deploy/gpu-bench.sh                      # from a checkout: numpy, OpenCV, onnx, onnxruntime-gpu
#   deploy/gpu-bench.sh --device tensorrt
#   docker compose -f deploy/docker-compose.yml -f deploy/docker-compose.gpu.yml --profile bench run --rm gpu-bench
set -eu
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m models.gpubench "$@"
