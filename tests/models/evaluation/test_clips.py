"""Person-annotated clips: the generator is deterministic, the person-level score is right, and a
clip played through the real `run` path (as `evaluate --compare --clips` plays it) gives one
violation per violator."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.settings import DEMO_SCENES, ROOT

from maskwatch.config import parse_config
from maskwatch.models.evaluation.clips import SCENARIOS, build_clips, scenarios, scene_faces
from maskwatch.models.evaluation.clipscore import Reported, score


def test_every_scenario_has_violators_with_ground_truth_boxes():
    bad, good = scene_faces(DEMO_SCENES)
    made = scenarios(bad, good, seed=3)
    assert [s.name for s in made] == list(SCENARIOS)
    for s in made:
        assert any(p.violator for p in s.people), s.name
        faces = [(p.face.image, p.face.box) for p in s.people]
        ids = [p.id for p in s.people]
        assert len(set(faces)) == len(set(ids)), f"{s.name}: one face is one person"
    revisit = next(s for s in made if s.name == "revisit")
    assert len({p.id for p in revisit.people}) == len(revisit.people) - 1  # the one who comes back


def test_clips_are_deterministic_for_a_seed(tmp_path):
    a = build_clips(DEMO_SCENES, tmp_path / "a", fps_list=(2.0,), seed=5, only=("crossing",))
    b = build_clips(DEMO_SCENES, tmp_path / "b", fps_list=(2.0,), seed=5, only=("crossing",))
    c = build_clips(DEMO_SCENES, tmp_path / "c", fps_list=(2.0,), seed=6, only=("crossing",))
    ta, tb, tc = (json.loads((x[0] / "truth.json").read_text()) for x in (a, b, c))
    assert ta == tb and ta != tc
    assert ta["fps"] == 2.0 and len(ta["persons"]) == 3
    assert all(p["boxes"] for p in ta["persons"])
    assert (a[0] / "clip.avi").stat().st_size > 10_000


TRUTH = {"fps": 5.0, "persons": [
    {"id": "a", "violator": True, "boxes": [[i, 100 + 10 * i, 100, 150 + 10 * i, 160] for i in range(20)]},
    {"id": "b", "violator": False, "boxes": [[i, 400, 100, 450, 160] for i in range(20)]},
    {"id": "c", "violator": True, "boxes": [[i, 100, 300, 150, 360] for i in range(50, 60)]},
]}


@pytest.mark.parametrize("reported, found, false, duplicates", [
    ([], 0, 0, 0),
    ([Reported(0.0, 3.0, (100, 100, 150, 160))], 1, 0, 0),
    ([Reported(0.0, 3.0, (100, 100, 150, 160)), Reported(1.0, 3.0, (120, 100, 170, 160))], 1, 0, 1),
    ([Reported(0.0, 3.0, (400, 100, 450, 160))], 0, 1, 0),          # the masked one
    ([Reported(0.0, 3.0, (700, 100, 750, 160))], 0, 1, 0),          # nobody there
    ([Reported(0.0, 1.0, (100, 300, 150, 360))], 0, 1, 0),          # c's place, but before c came
    ([Reported(10.0, 11.5, (100, 300, 150, 360)), Reported(0.0, 3.0, (100, 100, 150, 160))], 2, 0, 0),
])
def test_person_level_score(reported, found, false, duplicates):
    s = score(TRUTH, reported)
    assert (s.violators, s.found, s.false, s.duplicates) == (2, found, false, duplicates)
    assert s.recall == found / 2


@pytest.mark.slow
def test_a_clip_through_the_run_path_gives_one_violation_per_violator(tmp_path):
    """Through `evaluate --compare OLD NEW --clips`: each model plays the clip through the run path
    (the shipped one as both, so both must give one violation per violator, and it is promotable)."""
    from maskwatch.models.build import DEFAULT_CLASSIFIER, build_pipeline
    from maskwatch.models.evaluation.clips import reads_correctly

    cfg = parse_config({}, env={})
    vet = reads_correctly(build_pipeline(cfg.detector, cfg.classifier))
    build_clips(DEMO_SCENES, tmp_path / "clips", fps_list=(5.0,), seed=1, only=("crossing",), vet=vet)
    r = subprocess.run([sys.executable, "-m", "maskwatch.cli", "evaluate", "--compare", str(DEFAULT_CLASSIFIER),
                        str(DEFAULT_CLASSIFIER), "--clips", str(tmp_path / "clips"), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "compare.json").read_text())
    for name in ("old", "new"):
        row = report[name]["clips"]
        assert (row["violators"], row["found"], row["false"], row["duplicates"]) == (2, 2, 0, 0), (name, row)
        assert (tmp_path / "out" / f"clips-{name}" / "clips.md").read_text().count("crossing @ 5 fps") == 1
    assert report["promotable"] and "| person clips: duplicates | 0 | 0 |" in r.stdout


def test_identity_separation_compares_runs_within_and_across_people():
    from maskwatch.models.studies.identitystats import RUN, separation, summarize

    rng = np.random.default_rng(0)
    a, b = np.eye(8)[0], np.eye(8)[1]
    people = {p: [v + 0.05 * rng.normal(size=8) for _ in range(3 * RUN)] for p, v in (("a", a), ("b", b))}
    same, other = separation(people)
    assert len(same) == 2 * 3 and len(other) == 3 * 3  # 3 runs each: 3 pairs within each, 9 across
    s = summarize(same, other)
    assert s["same_min"] > 0.9 and s["different_max"] < 0.2
    assert s["margin"] == round(s["same_min"] - s["different_max"], 4)
    assert summarize(same, [])["margin"] is None


@pytest.mark.slow
def test_the_shipped_embedding_separates_the_people_who_cross(tmp_path):
    """Offline, on the crossing clip: the same violator's runs are more alike than two violators',
    and two violators who cross are never alike enough to be taken for one (the face descriptor's
    identity threshold is above them: a missed violator is the costlier error; a duplicate is what
    the run path counts)."""
    from maskwatch.events_config import IDENTITY_THRESHOLDS
    from maskwatch.models.build import build_pipeline
    from maskwatch.models.evaluation.clips import reads_correctly
    from maskwatch.models.studies.identitystats import measure

    cfg = parse_config({}, env={})
    pipe = build_pipeline(cfg.detector, cfg.classifier)
    build_clips(DEMO_SCENES, tmp_path / "clips", fps_list=(5.0,), seed=1, only=("crossing",), vet=reads_correctly(pipe))
    s = measure(pipe, tmp_path / "clips")["all"]
    assert s["same_person_pairs"] and s["different_pairs"]
    assert s["different_max"] < s["same_min"] and s["different_max"] < IDENTITY_THRESHOLDS["face"], s


def test_identitystats_reads_the_detector_and_rule_from_a_config(tmp_path):
    from maskwatch.config import ConfigError
    from maskwatch.models.studies.identitystats import main

    bad = tmp_path / "site.yaml"
    bad.write_text("detector: {upscale: [9]}\n")
    with pytest.raises(ConfigError, match=r"site.yaml(.|\n)*detector.upscale\[0\]"):
        main([str(tmp_path), "-c", str(bad)])


@pytest.mark.slow
def test_clip_groups_played_in_turn_share_one_model_load(tmp_path, monkeypatch, caplog):
    """`evaluate --clips` plays its clips in groups (FPS_BUDGET frames a second each), one after
    another: the worker's model is built once for all of them, and each group still scores right."""
    import logging

    from maskwatch.commands import clips as clip_cmd
    from maskwatch.models import build as model_build
    from maskwatch.models.build import build_pipeline
    from maskwatch.models.evaluation.clips import reads_correctly

    cfg = parse_config({}, env={})
    vet = reads_correctly(build_pipeline(cfg.detector, cfg.classifier))
    build_clips(DEMO_SCENES, tmp_path / "clips", fps_list=(5.0, 2.0), seed=1, only=("crossing",), vet=vet)
    monkeypatch.setattr(clip_cmd, "FPS_BUDGET", 5.0)  # a group each
    built = []
    monkeypatch.setattr(model_build, "build_pipeline", lambda *a, **k: built.append(a) or build_pipeline(*a, **k))
    with caplog.at_level(logging.INFO):
        result = clip_cmd.evaluate_clips(cfg, tmp_path / "clips", tmp_path / "out")
    assert sum("clips: playing" in r.getMessage() for r in caplog.records) == 2
    assert len(built) == 1
    assert [(r["fps"], r["found"], r["false"], r["duplicates"]) for r in result["clips"]] == [(2.0, 2, 0, 0),
                                                                                          (5.0, 2, 0, 0)]
