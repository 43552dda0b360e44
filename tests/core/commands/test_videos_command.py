"""`maskwatch evaluate --videos`: a violation's moment is its evidence frame's, found by its picture."""
from __future__ import annotations

import cv2
import pytest
from support.make_clip import PAN_FPS

from maskwatch.commands.videos import pinned
from maskwatch.models.evaluation.clipscore import Reported


def test_each_violation_is_pinned_to_its_evidence_frame(panning_video, tmp_path):
    path, frames = panning_video
    cv2.imwrite(str(tmp_path / "ev.jpg"), frames[24], [cv2.IMWRITE_JPEG_QUALITY, 90])
    by_clock = Reported(1.0, 3.0, (10, 10, 40, 40), 25 / PAN_FPS + 0.7, str(tmp_path / "ev.jpg"))
    no_frame = Reported(1.0, 3.0, (10, 10, 40, 40), 2.0)
    a, b = pinned([by_clock, no_frame], path, PAN_FPS)
    assert a.evidence_s == pytest.approx(25 / PAN_FPS) and (a.first_s, a.box) == (1.0, by_clock.box)
    assert b == no_frame


@pytest.mark.slow
def test_compare_plays_the_footage_with_each_model_and_counts_it_against_promotion(labelled_footage, tmp_path):
    """`evaluate --compare OLD NEW --videos DIR`: each model plays the annotated footage through the
    run path (the shipped one as both: equal, so promotable, and each finds both violators once)."""
    import json
    import subprocess
    import sys

    from maskwatch.models.build import DEFAULT_CLASSIFIER

    footage, truth = labelled_footage
    r = subprocess.run([sys.executable, "-m", "maskwatch.cli", "evaluate", "--compare", str(DEFAULT_CLASSIFIER),
                        str(DEFAULT_CLASSIFIER), "--videos", str(footage), "--labels", str(footage),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "compare.json").read_text())
    violators = sum(p["violator"] for p in truth["persons"])
    for name in ("old", "new"):
        row = report[name]["videos"]
        assert (row["violators"], row["found"], row["false"], row["duplicates"]) == (violators, violators, 0, 0), row
        assert (tmp_path / "out" / f"videos-{name}" / "videos.md").is_file()
        frames = json.loads((tmp_path / "out" / f"videos-{name}" / "videos.json").read_text())["overall"]["frames"]
        assert 0 < frames["processed"] <= frames["sent"] <= frames["read"], frames  # the run's own frame drops
    assert report["promotable"] and f"| real footage: found | {violators} | {violators} |" in r.stdout
