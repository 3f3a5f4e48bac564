#!/usr/bin/env bash
# Creates the virtual environment with pinned dependencies and links Debian's GStreamer
# bindings (gi) into it: they are not on PyPI in a form that finds the system's typelibs.
set -euo pipefail
py=${1:-/usr/bin/python3}; venv=${2:-.venv}
[ -x "$venv/bin/python" ] || { echo "== creating $venv with $py"; "$py" -m venv "$venv"; }
echo "== installing Python dependencies into $venv (pinned in pyproject.toml)"
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$venv/bin/python" -m pip install -q -e '.[dev]'
# ipycam carries a real ONVIF SOAP device service used as the simulated fleet's ONVIF peer;
# --no-deps because it pins the GUI build of OpenCV, which would shadow the headless one.
"$venv/bin/python" -m pip install -q --no-deps ipycam==1.3.0
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ -d /usr/lib/python3/dist-packages/gi ] && [ ! -e "$site/gi" ]; then
  ln -s /usr/lib/python3/dist-packages/gi "$site/gi"
fi
"$venv/bin/python" -c 'import gi; gi.require_version("GstRtspServer", "1.0")' \
  || { echo "error: GStreamer RTSP bindings unusable from $venv; run scripts/install-system.sh" >&2; exit 1; }
echo "== $venv ready"
