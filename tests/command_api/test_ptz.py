"""PTZ routes against the demo registry and its simulated ONVIF devices (real SOAP peers).

The demo's school-gate and fishing-port-quay are PTZ domes (tagged `ptz`, so the simulator
gives them a PTZ service), fishing-port-mouth is a fixed ONVIF camera; the devices are
started from the test's copy of the registry, moved to free ports.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from sharpeye.simulate.onvif_peer import OnvifPeer, registry_devices, start_onvif_devices
from tests.command_api.harness import Harness, harness

pytestmark = pytest.mark.integration

# Distinctive, so a leak into any answer is easy to spot.
SECRET = "Ptz-Sim-Pw-7c1!never-show"
QUAY, GATE, MOUTH = "fishing-port-quay", "school-gate", "fishing-port-mouth"


@dataclasses.dataclass
class Stack:
    api: Harness
    registry: Path
    peer: OnvifPeer

    def position(self, camera_id: str) -> tuple[float, float, float]:
        device = next(d for d in self.peer.devices if d.config.name == camera_id)
        assert device.ptz is not None
        return device.ptz.position()

    async def get(self, user: str, path: str) -> Any:
        return await self.api.client.get(path, headers=await self.api.login(user))

    async def post(self, user: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self.api.client.post(path, json=body, headers=await self.api.login(user))

    async def audit(self, **params: str) -> list[dict[str, Any]]:
        r = await self.get("admin", "/api/audit?" + "&".join(f"{k}={v}" for k, v in params.items()))
        assert r.status_code == 200, r.text
        records: list[dict[str, Any]] = r.json()
        return records


@asynccontextmanager
async def ptz_stack(
    tmp_path: Path, redis_url: str, device_password: str = SECRET
) -> AsyncIterator[Stack]:
    async with harness(tmp_path, redis_url, start_services=False) as api:
        registry = tmp_path / "camera_registry.yaml"
        # Free ports picked by the devices themselves (port 0), then written into the registry.
        devices = registry_devices(registry, onvif_port=0, rtsp_port=8554)
        peer = start_onvif_devices(
            [dataclasses.replace(d, port=0, password=device_password) for d in devices]
        )
        try:
            ports = {d.port: running.port for d, running in zip(devices, peer.devices, strict=True)}
            text = re.sub(
                r"port: (800[123])\b", lambda m: f"port: {ports[int(m[1])]}", registry.read_text()
            )
            registry.write_text(text)
            holder = api.runtime.registry
            await api.wait_for(
                lambda: (
                    (cam := holder.registry.cameras_by_id[GATE]).onvif is not None
                    and cam.onvif.port == ports[8001]
                ),
                "the registry with the test's ONVIF ports",
            )
            yield Stack(api, registry, peer)
        finally:
            peer.stop()


@pytest.fixture(autouse=True)
def _camera_password(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the registry's credentials reference (password_env) resolves to in the API.
    monkeypatch.setenv("SHARPEYE_SIM_ONVIF_PASSWORD", SECRET)


async def test_an_operator_reads_and_moves_a_ptz_camera(tmp_path: Path, redis_url: str) -> None:
    async with ptz_stack(tmp_path, redis_url) as s:
        r = await s.get("fisheries", f"/api/cameras/{QUAY}/ptz")
        assert r.status_code == 200, r.text
        assert r.json() == {
            "camera_id": QUAY,
            "position": {"pan": 0.0, "tilt": 0.0, "zoom": 0.0, "moving": False},
            "presets": [{"token": "home", "name": "Home"}],
            "can_control": True,
        }
        r = await s.post(
            "fisheries",
            f"/api/cameras/{QUAY}/ptz/move",
            {"pan": 0.8, "tilt": 0.5, "duration_s": 0.2},
        )
        assert r.status_code == 200, r.text
        moved = r.json()
        assert moved["pan"] > 0 and moved["tilt"] > 0 and moved["zoom"] == 0
        assert not moved["moving"]
        assert s.position(QUAY) == pytest.approx((moved["pan"], moved["tilt"], 0.0), abs=1e-5)

        r = await s.post("fisheries", f"/api/cameras/{QUAY}/ptz/step", {"zoom": 0.25})
        assert r.json()["zoom"] == pytest.approx(0.25)
        r = await s.post("fisheries", f"/api/cameras/{QUAY}/ptz/home")
        assert r.status_code == 200
        assert s.position(QUAY) == (0.0, 0.0, 0.0)
        assert (await s.post("fisheries", f"/api/cameras/{QUAY}/ptz/stop")).status_code == 200
        # Six requests to the dome, one ONVIF session (set-up is ~4 round trips each time).
        assert s.api.runtime.ptz.opened == 1

        audited = await s.audit(actor="fisheries")
        # Status reads are audited too (batched, so their order among the moves may vary).
        assert any(a["action"] == "ptz.status" for a in audited)
        records = [a for a in audited if a["action"] not in ("login", "ptz.status")]
        assert [(a["action"], a["target"], a["outcome"]) for a in reversed(records)] == [
            ("camera.ptz.move", f"camera:{QUAY}", "ok"),
            ("camera.ptz.step", f"camera:{QUAY}", "ok"),
            ("camera.ptz.home", f"camera:{QUAY}", "ok"),
            ("camera.ptz.stop", f"camera:{QUAY}", "ok"),
        ]
        assert records[-1]["detail"] == {"pan": 0.8, "tilt": 0.5, "zoom": 0.0, "duration_s": 0.2}


async def test_a_started_move_that_is_not_renewed_stops_by_itself(
    tmp_path: Path, redis_url: str
) -> None:
    # A wall that dies mid-hold sends no stop: the device's own timeout ends the move.
    async with ptz_stack(tmp_path, redis_url) as s:
        base = f"/api/cameras/{QUAY}/ptz"
        r = await s.post("fisheries", f"{base}/start", {"pan": 0.5, "timeout_s": 0.3})
        assert r.status_code == 200, r.text
        for _ in range(200):  # hang guard
            if not (await s.get("fisheries", base)).json()["position"]["moving"]:
                break
            await asyncio.sleep(0.05)
        stopped = s.position(QUAY)
        assert 0 < stopped[0] < 0.5
        await asyncio.sleep(0.3)
        assert s.position(QUAY) == stopped
        r = await s.post("fisheries", f"{base}/start", {"pan": 0.5, "timeout_s": 5})
        assert r.status_code == 422  # a hold is renewed, never granted for long
        records = [a for a in await s.audit(actor="fisheries") if a["action"] == "camera.ptz.start"]
        assert [r["detail"] for r in records] == [
            {"pan": 0.5, "tilt": 0.0, "zoom": 0.0, "timeout_s": 0.3}
        ]


async def test_presets_save_and_goto(tmp_path: Path, redis_url: str) -> None:
    async with ptz_stack(tmp_path, redis_url) as s:
        base = f"/api/cameras/{QUAY}/ptz"
        await s.post("fisheries", f"{base}/step", {"pan": -0.3, "tilt": 0.2, "zoom": 0.5})
        r = await s.post("fisheries", f"{base}/presets", {"name": "Quay steps 码头"})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert r.json() == {"token": token, "name": "Quay steps 码头"}
        await s.post("fisheries", f"{base}/home")

        r = await s.post("fisheries", f"{base}/presets/{token}/goto")
        assert r.status_code == 200, r.text
        assert s.position(QUAY) == pytest.approx((-0.3, 0.2, 0.5))
        presets = (await s.get("fisheries", base)).json()["presets"]
        assert {"token": token, "name": "Quay steps 码头"} in presets

        r = await s.post("fisheries", f"{base}/presets/nowhere/goto")
        assert r.status_code == 404
        assert r.json()["detail"] == (
            f"camera '{QUAY}': ONVIF device 127.0.0.1:{s.peer.devices[1].port} has no PTZ "
            "preset 'nowhere'"
        )
        (failed,) = await s.audit(action="camera.ptz.preset.goto", outcome="error")
        assert failed["detail"]["token"] == "nowhere"


async def test_a_viewer_may_look_but_not_steer(tmp_path: Path, redis_url: str) -> None:
    async with ptz_stack(tmp_path, redis_url) as s:
        r = await s.get("education", f"/api/cameras/{GATE}/ptz")
        assert r.status_code == 200 and r.json()["can_control"] is False
        for path, body in [
            ("move", {"pan": 1}),
            ("stop", None),
            ("presets", {"name": "x"}),
            ("presets/home/goto", None),
        ]:
            r = await s.post("education", f"/api/cameras/{GATE}/ptz/{path}", body)
            assert r.status_code == 403, (path, r.text)
        assert s.position(GATE) == (0.0, 0.0, 0.0)
        denied = await s.audit(actor="education", outcome="denied")
        assert len(denied) == 4


async def test_cameras_outside_the_scope_are_refused(tmp_path: Path, redis_url: str) -> None:
    async with ptz_stack(tmp_path, redis_url) as s:
        # fisheries operates the port, not the schools.
        assert (await s.get("fisheries", f"/api/cameras/{GATE}/ptz")).status_code == 403
        r = await s.post("fisheries", f"/api/cameras/{GATE}/ptz/move", {"pan": 1})
        assert r.status_code == 403
        assert r.json()["detail"] == "camera not visible to fisheries"
        assert s.position(GATE) == (0.0, 0.0, 0.0)
        denied = await s.audit(actor="fisheries", outcome="denied")
        assert {(d["action"], d["target"]) for d in denied} == {
            ("camera.ptz.read", f"camera:{GATE}"),
            ("camera.ptz.move", f"camera:{GATE}"),
        }
        r = await s.get("fisheries", "/api/cameras/no-such-camera/ptz")
        assert r.status_code == 404


async def test_cameras_without_ptz_are_404(tmp_path: Path, redis_url: str) -> None:
    async with ptz_stack(tmp_path, redis_url) as s:
        r = await s.get("fisheries", f"/api/cameras/{MOUTH}/ptz")
        assert r.status_code == 404
        port = s.peer.devices[2].port
        assert r.json()["detail"] == (
            f"camera '{MOUTH}' has no PTZ: ONVIF device 127.0.0.1:{port} has no PTZ service"
        )
        r = await s.get("admin", "/api/cameras/school-yard/ptz")
        assert r.status_code == 404
        assert r.json()["detail"] == "camera 'school-yard' has no ONVIF device"


async def test_device_failures_name_the_camera_and_no_secret(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with ptz_stack(tmp_path, redis_url, device_password="not-what-the-registry-says") as s:
        r = await s.post("fisheries", f"/api/cameras/{QUAY}/ptz/move", {"pan": 1})
        assert r.status_code == 502
        assert r.json()["detail"] == (
            f"camera '{QUAY}': its ONVIF device refused the platform's credentials "
            "(check the camera's credentials reference)"
        )
        (failed,) = await s.audit(action="camera.ptz.move", outcome="error")
        assert "refused" in failed["detail"]["error"]

        s.peer.stop()  # the device goes away
        r = await s.get("fisheries", f"/api/cameras/{QUAY}/ptz")
        assert r.status_code == 504
        assert r.json()["detail"].startswith(f"camera '{QUAY}': ONVIF device 127.0.0.1:")
        assert "is unreachable (connection refused)" in r.json()["detail"]
        await asyncio.sleep(0)
    assert SECRET not in caplog.text
    assert "not-what-the-registry-says" not in caplog.text
