#!/usr/bin/env bash
# Debian packages the tests need: GStreamer's RTSP server (a real camera stream), x264 to make
# test clips, and mosquitto (a real MQTT broker, started by the tests on free ports). Idempotent; runs as root in CI and on a fresh developer machine.
set -euo pipefail
pkgs=(gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good
      gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-tools mosquitto)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash "$(dirname "$0")/browser-deps.sh"
