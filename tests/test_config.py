import pytest

from maskwatch.config import ConfigError, expand_env, load_config, parse_config
from maskwatch.redact import redact_text, redact_url


def test_defaults_load_without_a_file():
    cfg = load_config(None)
    assert cfg.detector.upscale == 2.0 and cfg.classifier.backend == "auto"


@pytest.mark.parametrize("raw,expected", [
    ({"detector": {"upscale": 9}}, "detector.upscale: Input should be less than or equal to 4"),
    ({"detector": {"nope": 1}}, "detector.nope: unknown key"),
    ({"detectr": {}}, "detectr: unknown key"),
    ({"detector": {"tiles": [0, 2]}}, "detector.tiles: Value error, each of (columns, rows) must be 1..8"),
    ({"classifier": {"backend": "onnx"}}, "classifier.backend: Input should be 'auto', 'tflite' or 'keras'"),
    ({"classifier": {"threshold": 1.5}}, "classifier.threshold"),
    (["a list"], "the top level must be a mapping"),
])
def test_bad_values_name_the_field(raw, expected):
    with pytest.raises(ConfigError) as e:
        parse_config(raw, "site.yaml")
    assert expected in str(e.value)
    assert str(e.value).startswith("site.yaml")


def test_env_placeholders_fill_strings_only_after_parsing():
    tree = {"a": "x-${TOKEN}-y", "b": ["${MISSING:-fallback}"], "c": 3}
    assert expand_env(tree, {"TOKEN": "t0k"}) == {"a": "x-t0k-y", "b": ["fallback"], "c": 3}
    with pytest.raises(ConfigError, match=r"b\[0\]: environment variable MISSING is not set"):
        expand_env({"b": ["${MISSING}"]}, {})


def test_malformed_yaml_reports_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("detector:\n  upscale: 2\n   score_threshold: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: malformed YAML at line \d+"):
        load_config(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nothere.yaml: cannot read config"):
        load_config(tmp_path / "nothere.yaml")


@pytest.mark.parametrize("url,shown", [
    ("rtsp://admin:hunter2@10.1.2.3:554/Streaming/101", "rtsp://***@10.1.2.3:554/Streaming/101"),
    ("http://cam.local/video.mjpg?user=a&password=hunter2", "http://cam.local/video.mjpg?user=a&password=***"),
    ("rtsp://10.1.2.3/live", "rtsp://10.1.2.3/live"),
])
def test_redact_url_hides_credentials(url, shown):
    assert redact_url(url) == shown
    assert "hunter2" not in redact_text(f"could not open {url}: timeout")
