"""WS-Discovery for real, over multicast, inside a private network namespace (never on the
host's network), plus the lenient ProbeMatch parsing it relies on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ipycam.config import CameraConfig
from ipycam.onvif import ONVIFService

from camera.onvif.discovery import parse_probe_matches

REPO = Path(__file__).resolve().parents[3]
NETNS_SETUP = "ip link set lo up && ip link set lo multicast on && ip route add 239.0.0.0/8 dev lo"

# Runs inside the namespace: two discoverable devices, one Probe, then an ONVIF probe of what
# was found, all reported as JSON on stdout.
_IN_NAMESPACE = """
import asyncio, json, sys
from camera.onvif import discover, probe_device
from camera.onvif import cli
from sharpeye.simulate.onvif_peer import OnvifDeviceConfig, start_onvif_devices
devices = [
    OnvifDeviceConfig(name=f"lobby cam {i}", port=0, username="admin", password="pw",
                      rtsp_main=f"rtsp://127.0.0.1:8554/sim/vtest-720p/cam{i}")
    for i in (1, 2)
]
messages = []
with start_onvif_devices(devices, discovery=True) as peer:
    found = discover(timeout=1.0, progress=messages.append)
    host, port = found[0].host_port
    report = asyncio.run(probe_device(host, port, "admin", "pw"))
    cli_rc = cli.discover(0.5)  # the `sharpeye onvif discover` table, on stdout
    print(json.dumps({
        "ports": sorted(d.port for d in peer.devices),
        "found": [{"name": d.name, "host_port": d.host_port, "types": d.types} for d in found],
        "model": report.model,
        "messages": messages,
        "cli_rc": cli_rc,
    }))
"""


def _unshare_prefix() -> list[str]:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs util-linux unshare and iproute2 ip for a private network namespace")
    for prefix in (["unshare", "-rn"], ["unshare", "-n"]):
        probe = subprocess.run([*prefix, "sh", "-c", NETNS_SETUP], capture_output=True)
        if probe.returncode == 0:
            return prefix
    pytest.skip(
        "cannot create a private network namespace here (unshare -rn / -n not permitted); "
        "WS-Discovery multicast is only ever tested inside one"
    )


@pytest.mark.integration
def test_discover_finds_simulated_devices_in_a_private_namespace() -> None:
    prefix = _unshare_prefix()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [*prefix, "sh", "-c", f'{NETNS_SETUP} && exec "$0" -c "$1"', sys.executable, _IN_NAMESPACE],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    *cli_out, last = proc.stdout.strip().splitlines()
    result = json.loads(last)
    found = result["found"]
    assert sorted(f["name"] for f in found) == ["lobby cam 1", "lobby cam 2"]
    assert sorted(f["host_port"][1] for f in found) == result["ports"]
    assert all("dn:NetworkVideoTransmitter" in f["types"] for f in found)
    assert result["model"] == "SimCam-1"
    assert "waiting 1 s" in result["messages"][0]
    assert result["cli_rc"] == 0
    table = "\n".join(cli_out)
    assert "ONVIF devices (2)" in table and "lobby cam 2" in table
    assert f"127.0.0.1:{result['ports'][0]}" in table


def _ipycam_probe_match() -> bytes:
    """ipycam's own, uncorrected ProbeMatch: no <d:ProbeMatches> wrapper, singular action."""
    service = ONVIFService(CameraConfig(name="raw", local_ip="127.0.0.1", onvif_port=8080), None)
    return str(service.create_probe_match("urn:uuid:probe-1")).encode()


def test_wrapperless_probe_match_is_accepted() -> None:
    (dev,) = parse_probe_matches(_ipycam_probe_match(), "127.0.0.1", "urn:uuid:probe-1")
    assert dev.xaddrs == ("http://127.0.0.1:8080/onvif/device_service",)
    assert dev.host_port == ("127.0.0.1", 8080)
    assert dev.name == "raw"
    assert dev.epr.startswith("urn:uuid:")


def test_answers_to_another_probe_and_garbage_are_ignored() -> None:
    assert parse_probe_matches(_ipycam_probe_match(), "127.0.0.1", "urn:uuid:other") == []
    assert parse_probe_matches(b"<not-xml", "127.0.0.1") == []
