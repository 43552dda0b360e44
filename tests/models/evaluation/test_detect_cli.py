"""`maskwatch detect`: the JSON-lines contract that the scoring tool reads, and bad input."""
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

MASKWATCH = [sys.executable, "-m", "maskwatch.cli"]


def detect(*args, cwd=None):
    return subprocess.run([*MASKWATCH, "detect", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_json_contract_one_line_per_image(scene_images, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in scene_images[:4]:
        shutil.copy(p, folder)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    r = detect("--json", "--annotate", tmp_path / "ann", folder, tmp_path / "missing.png")
    assert r.returncode == 2  # some inputs were unreadable, the rest still processed
    assert f"{folder / 'broken.jpg'}: unreadable image" in r.stderr
    assert f"{tmp_path / 'missing.png'}: no such file or folder" in r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 4
    total = 0
    for line, src in zip(lines, sorted(scene_images[:4])):
        rec = json.loads(line)
        assert set(rec) == {"image", "width", "height", "faces"}
        assert rec["image"] == str(folder / src.name)
        h, w = cv2.imread(str(src)).shape[:2]
        assert (rec["width"], rec["height"]) == (w, h)
        for f in rec["faces"]:
            # the contract: these four keep their names and meaning; fields are only ever added
            assert set(f) == {"box", "score", "label", "p_no_mask", "verdict"}
            assert (f["label"] == "no_mask") == (f["verdict"] in ("no_mask", "mask_incorrect"))
            x1, y1, x2, y2 = f["box"]
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            assert 0 <= f["score"] <= 1 and 0 <= f["p_no_mask"] <= 1
            assert f["label"] in ("mask", "no_mask")
        total += len(rec["faces"])
    assert total >= 8  # these scenes hold 20 annotated faces
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == sorted(p.stem + ".jpg" for p in scene_images[:4])


def test_labels_follow_the_threshold(scene_images, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("classifier:\n  threshold: 0.3\n")
    rec = json.loads(detect("--json", "-c", cfg, scene_images[0]).stdout)
    for f in rec["faces"]:
        assert f["label"] == ("no_mask" if f["p_no_mask"] >= 0.3 else "mask")


def test_video_frames_are_sampled(tmp_path, scene_images):
    img = cv2.resize(cv2.imread(str(scene_images[0])), (320, 240))
    path = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(20):
        vw.write(img)
    vw.release()
    r = detect("--json", "--video-fps", "5", path)
    assert r.returncode == 0, r.stderr
    names = [json.loads(line)["image"] for line in r.stdout.splitlines()]
    assert names == [f"{path}#frame={n}" for n in range(0, 20, 2)]


@pytest.mark.parametrize("setup,message", [
    ("detector:\n  model: /nonexistent/yunet.onnx\n", "face detector weights not found: /nonexistent/yunet.onnx"),
    ("classifier:\n  model_dir: /nonexistent/clf\n", "classifier metadata not found: /nonexistent/clf/metadata.json"),
    ("detector: {upscale: nine}\n", "detector.upscale"),
])
def test_bad_models_or_config_are_named(tmp_path, scene_images, setup, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(setup)
    r = detect("-c", cfg, scene_images[0])
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_empty_folder_is_an_error(tmp_path):
    r = detect(tmp_path)
    assert r.returncode == 2 and "no images or videos in this folder" in r.stderr


def test_grayscale_and_alpha_images_are_read_as_colour(tmp_path, scene_images):
    img = cv2.imread(str(scene_images[0]))
    cv2.imwrite(str(tmp_path / "g.png"), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "a.png"), np.dstack([img, np.full(img.shape[:2], 255, np.uint8)]))
    r = detect("--json", tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2
