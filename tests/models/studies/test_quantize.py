"""maskwatch.models.studies.quantize's measuring half, without converting anything (tflite files only, no TensorFlow):
the shipped file against itself flips nothing, and the rule counts flips at the threshold."""
from __future__ import annotations

import numpy as np
import pytest
from support.settings import DEMO_SCENES, ROOT

from maskwatch.models.evaluation.voc import load_scenes, scene_crops, split_of
from maskwatch.models.modelinfo import ModelInfo
from maskwatch.models.studies.quantize import compare, decision_diff


def test_the_shipped_file_against_itself_flips_nothing():
    info = ModelInfo.load(ROOT / "models" / "weights" / "classifier")
    split = next(split_of(s.stem) for s in load_scenes(DEMO_SCENES) if split_of(s.stem) != "test")
    x = scene_crops(DEMO_SCENES, split, info.input_size, info.crop_margin).astype(np.float32)
    assert len(x) > 0
    same = compare(info, info.dir / info.tflite_file, x)
    assert (same["labels_flipped"], same["max_abs_dp"], same["passes"]) == (0, 0.0, True)
    assert same["crops_per_s_1_thread"] > 0


@pytest.mark.parametrize(("got", "flipped", "passes"), [
    ([0.10, 0.95, 0.99] * 100, 0, True),            # moved, but no label crossed 0.94
    ([0.10, 0.93, 0.99] + [0.1, 0.95, 0.99] * 99, 1, True),   # 1 of 300: 0.33%
    ([0.95, 0.93, 0.99] + [0.1, 0.95, 0.99] * 99, 2, False),  # 2 of 300: 0.67%, over 0.5%
])
def test_the_rule_counts_labels_flipped_at_the_threshold(got, flipped, passes):
    ref = np.asarray([0.05, 0.96, 0.999] * 100)
    diff = decision_diff(ref, np.asarray(got), 0.94)
    assert (diff["labels_flipped"], diff["passes"]) == (flipped, passes)
