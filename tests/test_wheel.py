"""The package as pip installs it: one namespace (maskwatch.*) from the user's top-level folders, in a
wheel, an editable install and a strict editable install alike; the wheel carries the serving
weights and the demo's CC0 scenes, and no study, no training artefact and no test data.

Each install is made by setuptools' own build backend from a copy of the tracked tree, unpacked
into a site folder of its own, and imported by a fresh interpreter from a folder that holds
decoy `models/` and `workers/` packages (another project's, first on sys.path)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support.settings import ROOT

NAMESPACE = ("maskwatch.models.build", "maskwatch.models.detector", "maskwatch.models.training.train",
             "maskwatch.models.evaluation.voc", "maskwatch.ingest.capture", "maskwatch.workers.worker",
             "maskwatch.dashboard.app", "maskwatch.storage.db", "maskwatch.demo")
# what the decoy folders would answer if our packages lost to them
DECOY = "raise ImportError('the decoy, not maskwatch')\n"

CHECK = """
import importlib.util, json, site, sys
site.addsitedir(sys.argv[1])
from maskwatch.paths import demo_scenes, migrations_dir, weights_dir
out = {m: importlib.util.find_spec(m).origin for m in json.loads(sys.argv[2])}
out["studies"] = importlib.util.find_spec("maskwatch.models.studies") is not None
out["weights"] = (weights_dir() / "classifier" / "metadata.json").is_file()
out["scenes"] = len(list((demo_scenes() / "images").glob("*.jpg")))
out["migrations"] = (migrations_dir() / "env.py").is_file()
print(json.dumps(out))
"""


def _build(kind: str, tree: Path, out: Path) -> tuple[Path, str]:
    """A wheel of the tree (kind wheel, lenient or strict): its path and what the backend warned."""
    out.mkdir()
    call = ("build_wheel(sys.argv[1])" if kind == "wheel" else
            f"build_editable(sys.argv[1], config_settings={{'editable_mode': '{kind}'}})")
    r = subprocess.run([sys.executable, "-c", f"import sys, setuptools.build_meta as b; b.{call}", str(out)],
                       cwd=tree, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    return wheel, r.stderr


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """The tracked files (and new ones git does not ignore), as a clean clone would have them."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    dst = tmp_path_factory.mktemp("tree")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file() and not rel.startswith("tests/"):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


@pytest.fixture(scope="module")
def wheel(tree, tmp_path_factory) -> tuple[Path, str]:
    return _build("wheel", tree, tmp_path_factory.mktemp("dist") / "wheel")


def _installed(wheel: Path, tmp: Path) -> dict:
    site_dir = tmp / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site_dir)
    cwd = tmp / "elsewhere"
    for decoy in ("models", "workers"):
        (cwd / decoy).mkdir(parents=True)
        (cwd / decoy / "__init__.py").write_text(DECOY)
        (cwd / decoy / "build.py").write_text(DECOY)
    # -S: nothing of this interpreter's own site-packages (the session's editable install) is seen
    r = subprocess.run([sys.executable, "-S", "-c", CHECK, str(site_dir), json.dumps(NAMESPACE)], cwd=cwd,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def test_the_wheel_installs_one_namespace_and_nothing_of_the_research(wheel):
    path, _ = wheel
    names = zipfile.ZipFile(path).namelist()
    assert {n.split("/")[0] for n in names} == {"maskwatch", path.name.split("-py3")[0] + ".dist-info"}
    assert not [n for n in names if "/studies/" in n], "a study in the wheel"
    assert not [n for n in names if n.endswith((".npz", ".png"))], "a training artefact in the wheel"
    assert not [n for n in names if "/tests/" in n or "conftest" in n], "test data in the wheel"
    for needed in ("maskwatch/models/weights/yunet_n_640_640.onnx", "maskwatch/models/weights/LICENSE.yunet",
                   "maskwatch/models/weights/classifier/metadata.json",
                   "maskwatch/models/weights/classifier/mask_classifier.tflite",
                   "maskwatch/migrations/env.py", "maskwatch/dashboard/templates/base.html",
                   "maskwatch/demo/scenes/LICENSE.md", "maskwatch/demo/scenes/images/maksssksksss114.jpg"):
        assert needed in names, f"{needed} missing from the wheel"


def test_the_wheel_metadata_is_spdx_and_short(wheel):
    path, warnings = wheel
    with zipfile.ZipFile(path) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in meta
    assert len(meta) < 40_000, "the README is the package description: a front door, not a manual"
    assert "Warning" not in warnings, warnings[-3000:]


@pytest.mark.parametrize("kind", ["wheel", "lenient", "strict"])
def test_every_install_resolves_maskwatch_before_any_other_models(kind, tree, wheel, tmp_path):
    built = wheel[0] if kind == "wheel" else _build(kind, tree, tmp_path / "dist")[0]
    got = _installed(built, tmp_path)
    for module in NAMESPACE:
        assert "elsewhere" not in got[module], f"{module} came from the decoy: {got[module]}"
        assert Path(got[module]).is_file()
    assert got["weights"] and got["migrations"]
    assert got["scenes"] >= 4
    # the studies travel with a checkout (the default editable install) and nowhere else
    assert got["studies"] is (kind == "lenient")
