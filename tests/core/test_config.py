import pytest

from maskwatch.config import ConfigError, expand_env, load_config, parse_config


def test_defaults_load_without_a_file():
    cfg = load_config(None)
    assert cfg.detector.upscale == (1.0, 2.0, 3.0) and cfg.classifier.backend == "auto"


@pytest.mark.parametrize("upscale,expected", [(2, (2.0,)), (1.5, (1.5,)), ([1, 2, 3], (1.0, 2.0, 3.0))])
def test_upscale_takes_one_factor_or_several(upscale, expected):
    assert parse_config({"detector": {"upscale": upscale}}).detector.upscale == expected


@pytest.mark.parametrize("raw, appearance, threshold", [
    ({}, "face+clothing", 0.84),                                          # the descriptor's own
    ({"worker": {"appearance": "face"}}, "face", 0.88),
    ({"events": None}, "face+clothing", 0.84),
    ({"events": {"identity_threshold": 0.9}}, "face+clothing", 0.9),      # the site's, whatever the descriptor
    ({"worker": {"appearance": "face"}, "events": {"identity_threshold": 0.8}}, "face", 0.8),
])
def test_the_identity_threshold_is_the_descriptor_s_unless_the_site_sets_one(raw, appearance, threshold):
    cfg = parse_config(raw, env={})
    assert (cfg.worker.appearance, cfg.events.identity_threshold) == (appearance, threshold)


@pytest.mark.parametrize("redis,frames,on_request", [
    ({}, "auto", False),                                                    # one bus: the frame is at hand
    ({"url": "redis://a:6379/0", "frames_url": "redis://a:6379/0"}, "auto", False),
    ({"url": "redis://site:6379/0", "frames_url": "redis://edge:6379/0"}, "auto", True),  # frames on the edge
    ({"url": "redis://site:6379/0", "frames_url": "redis://edge:6379/0"}, "inline", False),
    ({}, "on_request", True),
])
def test_evidence_frames_are_asked_for_where_frames_stay_on_an_edge(redis, frames, on_request):
    cfg = parse_config({"redis": redis, "worker": {"evidence_frames": frames}})
    assert cfg.evidence_on_request is on_request


@pytest.mark.parametrize("raw,expected", [
    ({"detector": {"upscale": 9}}, "detector.upscale[0]: Input should be less than or equal to 4"),
    ({"detector": {"upscale": [1, 2, 9]}}, "detector.upscale[2]: Input should be less than or equal to 4"),
    ({"detector": {"upscale": []}}, "detector.upscale: Value error, name at least one factor"),
    ({"detector": {"nope": 1}}, "detector.nope: unknown key"),
    ({"detectr": {}}, "detectr: unknown key"),
    ({"timezone": "Mars/Olympus"}, "timezone: Value error, unknown time zone 'Mars/Olympus': an IANA name such as "
                                   "UTC or Europe/Paris"),
    ({"timezone": "../../etc/passwd"}, "timezone: Value error, unknown time zone '../../etc/passwd'"),
    ({"dashboard": {"compliance_target": 1.5}}, "dashboard.compliance_target: Input should be less than or equal to 1"),
    ({"events": {"cooldown_s": 60}}, "events: Value error, cooldown_s was removed: violations are now deduplicated"),
    ({"events": {"identity_threshold": 1.5}}, "events.identity_threshold: Input should be less than or equal to 1"),
    ({"events": {"shards": 0}}, "events.shards: Input should be greater than or equal to 1"),
    ({"events": {"on_course_threshold": 0.9}}, "events: Value error, on_course_threshold (0.9) cannot exceed "
                                               "identity_threshold (0.84)"),
    ({"worker": {"appearance": "face"}, "events": {"on_course_threshold": 0.9}},
     "events: Value error, on_course_threshold (0.9) cannot exceed identity_threshold (0.88)"),
    ({"worker": {"appearance": "torso"}}, "worker.appearance: Input should be 'face' or 'face+clothing'"),
    ({"detector": {"tiles": [0, 2]}}, "detector.tiles: Value error, each of (columns, rows) must be 1..8"),
    ({"classifier": {"backend": "onnx"}},
     "classifier.backend: Input should be 'auto', 'tflite', 'keras' or 'onnxruntime'"),
    ({"classifier": {"threshold": 1.5}}, "classifier.threshold"),
    (["a list"], "the top level must be a mapping"),
    ({"cameras": [{"id": "gate-1", "url": "ftp://u:pw@10.0.0.9/x"}]},
     "cameras[0].url (camera 'gate-1'): Value error, unsupported URL scheme 'ftp'"),
    ({"cameras": [{"id": "gate-1", "url": "rtsp://"}]},
     "cameras[0].url (camera 'gate-1'): Value error, URL has no host"),
    ({"cameras": [{"id": "Gate 1", "url": "rtsp://h/x"}]}, "cameras[0].id (camera 'Gate 1'): String should match"),
    ({"cameras": [{"id": "a", "url": "rtsp://h/x", "fps": 0}]},
     "cameras[0].fps (camera 'a'): Input should be greater than 0"),
    ({"cameras": [{"id": "a", "url": "rtsp://h/x", "rtsp_port": 1}]}, "cameras[0].rtsp_port (camera 'a'): unknown key"),
    ({"cameras": [{"id": "a", "url": "rtsp://h/x", "roi": [[0, 0], [2, 0], [1, 1]]}]}, "must lie in 0..1"),
    ({"cameras": [{"id": "a", "url": "rtsp://h/x"}, {"id": "a", "url": "rtsp://h/y"}]},
     "cameras: camera id 'a' is used twice"),
    ({"cameras": [{"id": "a"}]}, "cameras[0].url (camera 'a'): Field required"),
    ({"events": {"vote_k": 6, "vote_n": 5}}, "events: Value error, vote_k (6) cannot exceed vote_n (5)"),
    ({"redis": {"prefix": "has space"}}, "redis.prefix: String should match pattern"),
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


def test_rejected_urls_never_echo_a_password():
    with pytest.raises(ConfigError) as e:
        parse_config({"cameras": [{"id": "a", "url": "ftp://admin:hunter2@10.0.0.9/x"}]}, "site.yaml")
    assert "hunter2" not in str(e.value)


def test_check_config_command(tmp_path):
    import subprocess
    import sys

    good = tmp_path / "good.yaml"
    good.write_text("cameras:\n  - id: gate\n    url: rtsp://admin:${CAM_PW}@10.0.0.9/s\n"
                    "dashboard:\n  secret_key: hunter2-session-key\n  metrics_token: hunter2-scrape-token\n"
                    "alerts:\n  sinks:\n"
                    "    - {type: webhook, name: chat, url: 'https://hooks.example/services/T0/hunter2',"
                    " hmac_secret: hunter2-hmac-secret}\n"
                    "    - {type: mqtt, name: ha, host: broker.local, username: mw, password: hunter2-mqtt}\n"
                    "reports:\n  smtp: {host: mail.local, username: mw, password: hunter2-smtp,"
                    " sender: mw@site.example}\n")
    run = lambda *a, **kw: subprocess.run([sys.executable, "-m", "maskwatch.cli", "check-config", *a],  # noqa: E731
                                          capture_output=True, text=True, **kw)
    ok = run(str(good), "-v", env={"CAM_PW": "hunter2", "PATH": "/usr/bin:/bin"})
    assert ok.returncode == 0 and "OK (1 camera, time zone UTC" in ok.stdout
    assert "rtsp://***@10.0.0.9/s" in ok.stdout and "https://hooks.example" in ok.stdout
    assert "hunter2" not in ok.stdout  # the camera's password, keys, tokens, a webhook's path, a broker's and SMTP's
    missing = run(str(good), env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode == 2 and "cameras[0].url: environment variable CAM_PW is not set" in missing.stderr


@pytest.mark.parametrize("value", ["change-me-redis", "Change-Me", "change-me"])
def test_example_secrets_from_the_environment_are_refused(value):
    raw = {"redis": {"url": "redis://:${REDIS_PASSWORD}@redis:6379/0"}}
    with pytest.raises(ConfigError) as e:
        parse_config(raw, "site.yaml", env={"REDIS_PASSWORD": value})
    assert str(e.value) == ("site.yaml: redis.url: REDIS_PASSWORD is still the example value from "
                            "deploy/.env.example (change-me-...): set a real secret, e.g. `openssl rand -hex 24`")
    assert parse_config(raw, env={"REDIS_PASSWORD": "not-change-me"}).redis.url  # only a prefix is an example


def test_check_config_refuses_an_example_secret_in_one_line(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "site.yaml"
    path.write_text("cameras:\n  - id: gate\n    url: rtsp://admin:${CAM_PASSWORD}@10.0.0.9/s\n")
    r = subprocess.run([sys.executable, "-m", "maskwatch.cli", "check-config", str(path)], capture_output=True,
                       text=True, env={"CAM_PASSWORD": "change-me-camera", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "cameras[0].url: CAM_PASSWORD is still the example value" in r.stderr


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nothere.yaml: cannot read config"):
        load_config(tmp_path / "nothere.yaml")


def test_the_example_config_is_valid():
    from support.settings import ROOT

    env = {"CAM_PASSWORD": "pw", "POSTGRES_PASSWORD": "pg", "MASKWATCH_SECRET_KEY": "k"}
    cfg = load_config(ROOT / "maskwatch.example.yaml", env=env)
    assert [c.id for c in cfg.cameras] == ["gate-north", "platform-2", "lobby-mjpeg"]
    assert cfg.redis.url == "redis://127.0.0.1:6379/0"


def test_the_bench_profile_is_valid():
    from support.settings import ROOT

    cfg = load_config(ROOT / "deploy" / "bench" / "fast-720p.yaml")
    assert cfg.detector.max_side == 640 and cfg.worker.batch_size == 3


@pytest.mark.parametrize("raw, expected", [
    ({"cameras": [{"id": "a", "url": "rtsp://h/a"}, {"id": "a", "url": "rtsp://h/b"},
                  {"id": "b", "url": "ftp://x"}]},
     ["cameras[2].url (camera 'b'): Value error, unsupported URL scheme 'ftp'", "camera id 'a' is used twice"]),
    ({"cameras": [{"id": "c", "url": "rtsp:///stream1"}]}, ["a rtsp:// URL needs a host"]),
    ({"cameras": [{"id": "c", "url": "http://:8080/video"}]}, ["a http:// URL needs a host"]),
])
def test_every_problem_is_reported_together(raw, expected):
    with pytest.raises(ConfigError) as e:
        parse_config(raw, "site.yaml", env={})
    for text in expected:
        assert text in str(e.value)


def test_file_problems_name_the_file(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("site: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml: not UTF-8 text \(byte 9 is 0xe9\)"):
        load_config(bad)
    env = tmp_path / "env.yaml"
    env.write_text("dashboard:\n  secret_key: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(ConfigError, match=r"env.yaml: dashboard.secret_key: environment variable NOT_SET_ANYWHERE"):
        load_config(env, env={})


def test_a_config_built_in_code_refuses_duplicate_ids_too():
    from pydantic import ValidationError

    from maskwatch.config import Config
    with pytest.raises(ValidationError, match="camera ids must be unique"):
        Config.model_validate({"cameras": [{"id": "a", "url": "0"}, {"id": "a", "url": "1"}]})
