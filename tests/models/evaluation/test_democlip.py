import cv2
import numpy as np
import pytest

from maskwatch.models.evaluation.democlip import build_clip, scene_frames


@pytest.mark.parametrize("shape,size", [((300, 400), (960, 540)), ((400, 300), (640, 360)),
                                        ((180, 320), (320, 180)), ((1000, 100), (320, 180))])
def test_frames_fill_the_canvas_for_any_photo_shape(shape, size):
    img = np.full((*shape, 3), 200, np.uint8)
    frames = list(scene_frames(img, seconds=1, fps=10, size=size))
    assert len(frames) == 10 and all(f.shape == (size[1], size[0], 3) for f in frames)
    assert not np.array_equal(frames[0], frames[2])  # it drifts


def test_build_clip_writes_a_readable_video(tmp_path, scene_images):
    clip = build_clip(scene_images[:2], tmp_path / "c.avi", fps=5, seconds_per_scene=1, size=(320, 180))
    cap = cv2.VideoCapture(str(clip))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 10
