#!/bin/sh
# Measure a GPU host: detection frames/s of 720p and classification faces/s by batch size, and GPU
# memory, through the workers' own batched path (models/evaluation/gpubench.py; JSON under out/bench/).
#
#   deploy/gpu-bench.sh                      # from a checkout: numpy, OpenCV, onnx, onnxruntime-gpu
#   deploy/gpu-bench.sh --device tensorrt
#   docker compose -f deploy/docker-compose.yml -f deploy/docker-compose.gpu.yml --profile bench run --rm gpu-bench
set -eu
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if "$PY" -c "import maskwatch.models" 2>/dev/null; then
  exec "$PY" -m maskwatch.models.evaluation.gpubench "$@"
fi
# a checkout that was never installed (a lent GPU machine): the same maskwatch.* namespace that
# pyproject.toml's package-dir maps, as a tree of links; -P keeps the checkout's own maskwatch/
# (which holds no models/) off the front of sys.path
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/maskwatch"
for f in maskwatch/*; do ln -s "$PWD/$f" "$tree/maskwatch/"; done
for d in ingest workers dashboard models demo; do ln -s "$PWD/$d" "$tree/maskwatch/$d"; done
PYTHONPATH="$tree${PYTHONPATH:+:$PYTHONPATH}" "$PY" -P -m maskwatch.models.evaluation.gpubench "$@"
