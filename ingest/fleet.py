"""The registry's cameras as ingest streams: credentials resolved, ONVIF URLs filled in.

A camera that cannot be set up (missing secret, ONVIF device down) is reported offline
with the reason; it never stops the other cameras. How a camera is reached (logins, ONVIF
URLs, the spec's fields) is resolved by `camera.resolve`, as the relay's sources do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from camera.resolve import (
    Login,
    onvif_login,
    onvif_stream_urls,
    reach,
    rtsp_login,
    rtsp_or_onvif,
)
from camera.spec import RecordPlan, StreamSpec
from ingest.engine import IngestEngine
from sharpeye.backoff import Backoff
from sharpeye.contracts.health import CameraHealth, CameraState
from sharpeye.registry import Camera, Registry
from sharpeye.registry.errors import CredentialError

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """A camera not (yet) handed to the engine, and why."""

    camera: Camera
    reason: str | None
    state: CameraState
    backoff: Backoff = field(default_factory=lambda: Backoff(base_s=1.0, max_s=60.0))
    task: asyncio.Task[None] | None = None

    @property
    def disabled(self) -> bool:
        return self.state is CameraState.DISABLED


class Fleet:
    def __init__(self, engine: IngestEngine, node_id: str, secrets_file: Path | None) -> None:
        self.engine = engine
        self.node_id = node_id
        self.secrets_file = secrets_file
        self._cameras: dict[str, Camera] = {}
        self._pending: dict[str, _Pending] = {}
        # Each camera's recording, as its own block or its groups' say: a group's edit
        # changes it without changing the camera.
        self._plans: dict[str, RecordPlan | None] = {}

    @property
    def camera_ids(self) -> set[str]:
        return set(self._cameras)

    def apply(self, registry: Registry, only: set[str] | None = None) -> tuple[set[str], set[str]]:
        """Bring the engine in line with the registry (restricted to `only`, the cameras this
        worker holds leases for); returns the (added or changed, dropped) camera ids."""
        wanted = {c.id: c for c in registry.cameras if only is None or c.id in only}
        removed = set(self._cameras) - set(wanted)
        for cid in removed:
            self._drop(cid)
        touched: set[str] = set()
        for cid, cam in wanted.items():
            rec = registry.recording(cam)
            plan = RecordPlan(rec.segment_s, rec.retain_days) if rec is not None else None
            if self._cameras.get(cid) == cam and self._plans.get(cid) == plan:
                continue
            self._drop(cid)
            self._cameras[cid] = cam
            self._plans[cid] = plan
            self._start(cam)
            touched.add(cid)
        return touched, removed

    def close(self) -> None:
        for cid in list(self._cameras):
            self._drop(cid)

    def health(self) -> dict[str, CameraHealth]:
        out = self.engine.health()
        now = time.time()
        for cid, p in self._pending.items():
            out[cid] = CameraHealth(
                camera_id=cid,
                node_id=self.node_id,
                state=p.state,
                last_error=p.reason,
                reason=p.reason or ("disabled in the registry" if p.disabled else None),
                updated_at=now,
            )
        return out

    def _drop(self, cid: str) -> None:
        self._cameras.pop(cid, None)
        self._plans.pop(cid, None)
        p = self._pending.pop(cid, None)
        if p is not None and p.task is not None:
            p.task.cancel()
        if cid in self.engine.camera_ids:
            self.engine.remove(cid)

    def _start(self, cam: Camera) -> None:
        if not cam.enabled:
            self._pending[cam.id] = _Pending(cam, None, CameraState.DISABLED)
            return
        try:
            rtsp = rtsp_login(cam, self.secrets_file)
        except CredentialError as exc:
            self._pending[cam.id] = _Pending(cam, str(exc), CameraState.OFFLINE)
            log.error("camera %s: %s", cam.id, exc)
            return
        if cam.streams is not None:
            self.engine.add(self._spec(cam, cam.streams.main, rtsp))
            return
        pending = _Pending(cam, "asking the ONVIF device for stream URLs", CameraState.CONNECTING)
        self._pending[cam.id] = pending
        pending.task = asyncio.get_running_loop().create_task(self._resolve_onvif(pending))

    def _spec(self, cam: Camera, url: str, rtsp: Login) -> StreamSpec:
        s = cam.analytics.sampling
        plan = self._plans.get(cam.id)
        return StreamSpec(**reach(cam, url, rtsp), sampling=s.mode, fps=s.fps, recording=plan)

    async def _resolve_onvif(self, pending: _Pending) -> None:
        from camera.onvif.errors import OnvifError

        cam = pending.camera
        assert cam.onvif is not None
        while True:
            try:
                onvif = onvif_login(cam, self.secrets_file)
                main, _sub = await onvif_stream_urls(cam, onvif)
            except (OnvifError, CredentialError) as exc:
                pending.reason = str(exc)
                pending.state = CameraState.OFFLINE
                delay = pending.backoff.next_delay()
                log.warning("camera %s: %s (retry in %.0f s)", cam.id, exc, delay)
                await asyncio.sleep(delay)
                continue
            break
        rtsp = rtsp_or_onvif(rtsp_login(cam, self.secrets_file), onvif)
        self._pending.pop(cam.id, None)
        self.engine.add(self._spec(cam, main, rtsp))
        log.info("camera %s: stream URL from ONVIF device %s", cam.id, cam.onvif.host)
