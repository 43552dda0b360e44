"""An input size per face size (maskwatch.models.studies.bysize): small faces routed to a face-size specialist,
measured by the levers on the same detections as the model's own."""
from __future__ import annotations

import json

import numpy as np
import pytest

from maskwatch.models.build import DEFAULT_CLASSIFIER
from maskwatch.models.evaluation.metrics import Tally
from maskwatch.models.modelinfo import ModelError, ModelInfo
from maskwatch.models.studies import bysize, levers


def _tally(p, widths=(10.0, 20.0, 30.0), conf=(0.9, 0.8, 0.95)) -> Tally:
    t = Tally(violations_gt=2)
    t.conf, t.width, t.p_no_mask = list(conf), list(widths), list(p)
    t.on_violation, t.on_mask, t.fold = [True, False, True], [False, True, False], [0, 1, 0]
    return t


@pytest.mark.parametrize("below,mix,want", [
    (16.0, 1.0, [0.8, 0.2, 0.2]),   # only the face under 16 px takes the specialist's p
    (24.0, 1.0, [0.8, 0.8, 0.2]),
    (24.0, 0.5, [0.5, 0.5, 0.2]),   # the mean of both models
    (8.0, 1.0, [0.2, 0.2, 0.2]),    # no face that narrow
])
def test_faces_narrower_than_the_cut_take_the_specialists_p(below, mix, want):
    main, small = _tally([0.2, 0.2, 0.2]), _tally([0.8, 0.8, 0.8])
    got = bysize.routed(main, small, below, mix)
    np.testing.assert_allclose(got.p_no_mask, want)
    assert got.conf == main.conf and got.on_violation == main.on_violation and got.violations_gt == 2
    assert main.p_no_mask == [0.2, 0.2, 0.2]  # the model's own tally is left as it was


@pytest.mark.parametrize("small,message", [
    (_tally([0.8, 0.8], widths=(10.0, 20.0), conf=(0.9, 0.8)), "3 and 2 detections"),
    (_tally([0.8] * 3, widths=(10.0, 21.0, 30.0)), "scores or widths differ"),
    (_tally([0.8] * 3, conf=(0.9, 0.7, 0.95)), "scores or widths differ"),
])
def test_routing_refuses_tallies_of_other_detections(small, message):
    with pytest.raises(ModelError, match=message):
        bysize.routed(_tally([0.2] * 3), small, 24.0, 1.0)


def test_a_fold_model_is_fed_at_its_own_input_size(tmp_path):
    from maskwatch.models.training.train import build_model

    model, _ = build_model(64, None)
    model.save(tmp_path / "fold0.keras")
    (clf,) = levers.fold_models(tmp_path, 2, ModelInfo.load(DEFAULT_CLASSIFIER)).values()
    assert clf.input_size == 64
    p, _, _ = clf.predict_verdicts(np.zeros((3, 64, 64, 3), np.uint8))
    assert p.shape == (3,)


def test_routing_a_model_to_itself_changes_nothing_out_of_fold_or_held_out(scenes_dir, tmp_path, shipped_folds):
    """Both fold sets are copies of the shipped Keras file and the specialist's final model is the
    shipped one: every route must give the model's own rule and F1, both ways."""
    assert levers.main([str(DEFAULT_CLASSIFIER), "--scenes", str(scenes_dir), "--folds-from", str(shipped_folds()),
                        "--folds", "2", "--small-folds-from", str(shipped_folds("small")),
                        "--small-model", str(DEFAULT_CLASSIFIER), "--by-size-only",
                        "--out", str(tmp_path / "levers")]) == 0
    report = json.loads((tmp_path / "levers" / "levers.json").read_text())
    assert "test-time flip" not in report["out_of_fold"] and "held_out" not in report  # the routes only
    oof, held = report["out_of_fold"], report["held_out_by_size"]
    names = [bysize.route_name(b, m) for b, m in bysize.ROUTES]
    for name in ["the small-face model alone", *names]:
        assert oof[name] == oof["as trained"], name
        assert held[name] == held["as trained"], name
    assert held["as trained"]["rule"] == oof["as trained"]["rule"]


@pytest.mark.parametrize("flags", [["--small-model", str(DEFAULT_CLASSIFIER)], ["--by-size-only"]])
def test_the_routes_need_the_specialists_fold_models(capsys, flags):
    with pytest.raises(SystemExit) as e:
        levers.main([str(DEFAULT_CLASSIFIER), "--scenes", "x", *flags])
    assert e.value.code == 2
    assert "need --small-folds-from" in capsys.readouterr().err
