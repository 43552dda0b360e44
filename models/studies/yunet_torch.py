"""The shipped YuNet ONNX graph run op by op in PyTorch, so it can be fine-tuned
(maskwatch.models.studies.detector_tune).

YuNet's graph is small and plain (Conv with BatchNorm folded in, ReLU, MaxPool, nearest Resize,
Add, and the heads' Transpose/Reshape/Sigmoid), so it is interpreted here rather than converted:
every Conv weight and bias is a parameter, the graph itself is untouched, and `to_onnx` writes the
trained values back into the same initializers, so the file serves exactly as the shipped one does
(same inputs, outputs, free sizes and decoding in maskwatch.models.yunet). cls and obj come out as logits (the
graph's Sigmoid is left to the loss); `probabilities` applies it, as ONNX Runtime's outputs have it.
PyTorch is needed only here and in the fine-tuner (`pip install -e '.[detector-tune]'`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

STRIDES = (8, 16, 32)
OPS = frozenset({"Conv", "Relu", "MaxPool", "Resize", "Add", "Transpose", "Reshape", "Sigmoid"})


class TorchYuNet(nn.Module):
    def __init__(self, path: Path):
        super().__init__()
        try:
            self.model = onnx.load(str(path))
        except Exception as e:  # onnx raises its own, unrelated exception types
            raise ValueError(f"face detector weights unreadable: {path}: {e}") from e
        inits = {i.name: numpy_helper.to_array(i) for i in self.model.graph.initializer}
        self.params = nn.ParameterDict()
        self.key: dict[str, str] = {}  # initializer name -> parameter key (keys may not hold dots)
        self.nodes: list[tuple[str, list[str], str, dict]] = []
        for n in self.model.graph.node:
            if n.op_type not in OPS:
                raise ValueError(f"{path}: operator {n.op_type} is not one YuNet's graph uses")
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            if n.op_type == "Conv":
                for name in n.input[1:]:
                    self.key[name] = f"p{len(self.key)}"
                    self.params[self.key[name]] = nn.Parameter(torch.from_numpy(inits[name].copy()))
            elif n.op_type == "Reshape":
                attrs["last"] = int(inits[n.input[1]][-1])
            self.nodes.append((n.op_type, list(n.input), n.output[0], attrs))
        self.outputs = [o.name for o in self.model.graph.output]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Outputs by name for an (N, 3, H, W) BGR 0-255 batch, H and W multiples of 32."""
        env = {"input": x}
        for op, ins, out, a in self.nodes:
            env[out] = self._op(op, [env[i] for i in ins if i in env], ins, a)
        return {o: env[o] for o in self.outputs}

    def _op(self, op: str, args: list[torch.Tensor], ins: list[str], a: dict) -> torch.Tensor:
        v = args[0]
        if op == "Conv":
            bias = self.params[self.key[ins[2]]] if len(ins) > 2 else None
            return F.conv2d(v, self.params[self.key[ins[1]]], bias, stride=a["strides"], padding=a["pads"][:2],
                            dilation=a["dilations"], groups=a["group"])
        if op == "Relu":
            return F.relu(v)
        if op == "MaxPool":
            return F.max_pool2d(v, a["kernel_shape"], a["strides"])
        if op == "Resize":  # nearest, asymmetric, x2: what the graph's FPN upsampling is
            return F.interpolate(v, scale_factor=2.0, mode="nearest")
        if op == "Add":
            return v + args[1]
        if op == "Transpose":
            return v.permute(*a["perm"])
        if op == "Reshape":  # the graph's [1, -1, C], keeping the batch
            return v.reshape(v.shape[0], -1, a["last"])
        return v  # Sigmoid: left to the loss

    def probabilities(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The outputs as the ONNX file gives them (cls and obj through the sigmoid)."""
        return {k: torch.sigmoid(v) if k.startswith(("cls_", "obj_")) else v for k, v in self(x).items()}

    def to_onnx(self, path: Path) -> None:
        """The graph with this module's weights, written to path."""
        for init in self.model.graph.initializer:
            if init.name in self.key:
                arr = self.params[self.key[init.name]].detach().cpu().numpy().astype(np.float32)
                init.CopyFrom(numpy_helper.from_array(arr, init.name))
        onnx.save(self.model, str(path))


def priors(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every output row's anchor point (x, y) and stride, in the order of the strides' outputs
    concatenated: as maskwatch.models.yunet decodes them, the point of cell (col, row) is (col, row) * stride."""
    pts, st = [], []
    for s in STRIDES:
        rows, cols = h // s, w // s
        yy, xx = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
        pts.append(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1).float() * s)
        st.append(torch.full((rows * cols,), float(s)))
    return torch.cat(pts), torch.cat(st)


def decode(bbox: torch.Tensor, pts: torch.Tensor, st: torch.Tensor) -> torch.Tensor:
    """x1 y1 x2 y2 boxes from bbox rows (dx, dy, log w, log h in strides), as maskwatch.models.yunet."""
    centre = pts + bbox[..., :2] * st[:, None]
    wh = torch.exp(bbox[..., 2:].clamp(max=8.0)) * st[:, None]
    return torch.cat([centre - wh / 2, centre + wh / 2], -1)


def heads(out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """cls logits (N, A), obj logits (N, A) and bbox rows (N, A, 4), the strides concatenated."""
    cat = [torch.cat([out[f"{kind}_{s}"] for s in STRIDES], 1) for kind in ("cls", "obj", "bbox")]
    return cat[0][..., 0], cat[1][..., 0], cat[2]
