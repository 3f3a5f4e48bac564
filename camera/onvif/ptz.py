"""Pan, tilt, zoom and presets of an ONVIF camera (PTZ service ver20, onvif-zeep-async).

`open_ptz` finds the PTZ service the device advertises (GetServices, else GetCapabilities)
and the media profile carrying a PTZ configuration; a device without either raises
`OnvifNoPtzError`. Values are ONVIF's generic spaces: pan and tilt in [-1, 1], zoom in [0, 1],
velocities in [-1, 1]. Errors are those of `probe_device` (every message names host:port,
never the password), plus `OnvifPresetError` for a preset token the device lacks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import zeep.exceptions

from camera.onvif.client import ONVIFCamera, close_camera, map_error
from camera.onvif.errors import OnvifError, OnvifNoPtzError, OnvifPresetError

PTZ_NS = "http://www.onvif.org/ver20/ptz/wsdl"
T = TypeVar("T")


@dataclass(frozen=True)
class PtzPosition:
    pan: float | None  # None where the device does not report that axis
    tilt: float | None
    zoom: float | None
    moving: bool


@dataclass(frozen=True)
class PtzPreset:
    token: str
    name: str


class PtzSession:
    """PTZ requests to one device, for one media profile; from `open_ptz`. Each request is
    bounded by the session's timeout."""

    def __init__(
        self, cam: Any, service: Any, profile: str, *, username: str, password: str, timeout: float
    ) -> None:
        self._cam = cam
        self._ptz = service
        self.profile = profile
        self.host, self.port = str(cam.host), int(cam.port)
        self._username, self._password = username, password
        self._timeout = timeout

    async def status(self) -> PtzPosition:
        answer = await self._call(self._ptz.GetStatus({"ProfileToken": self.profile}))
        position = getattr(answer, "Position", None)
        pan_tilt = getattr(position, "PanTilt", None)
        zoom = getattr(position, "Zoom", None)
        moves = getattr(answer, "MoveStatus", None)
        states = {str(getattr(moves, axis, None) or "") for axis in ("PanTilt", "Zoom")}
        return PtzPosition(
            pan=_number(getattr(pan_tilt, "x", None)),
            tilt=_number(getattr(pan_tilt, "y", None)),
            zoom=_number(getattr(zoom, "x", None)),
            moving="MOVING" in states,
        )

    async def presets(self) -> list[PtzPreset]:
        answer = await self._call(self._ptz.GetPresets({"ProfileToken": self.profile}))
        presets = []
        for p in answer or []:
            token = str(p.token)
            presets.append(PtzPreset(token=token, name=str(getattr(p, "Name", None) or token)))
        return presets

    async def continuous_move(
        self, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0, timeout_s: float = 1.0
    ) -> None:
        """Start moving at these velocities; the device stops by itself after `timeout_s`
        (so a move outlives no client that died before calling `stop`)."""
        _check("velocity", pan, tilt, zoom)
        request = {
            "ProfileToken": self.profile,
            "Velocity": {"PanTilt": {"x": pan, "y": tilt}, "Zoom": {"x": zoom}},
            "Timeout": dt.timedelta(seconds=timeout_s),
        }
        await self._call(self._ptz.ContinuousMove(request))

    async def stop(self) -> None:
        request = {"ProfileToken": self.profile, "PanTilt": True, "Zoom": True}
        await self._call(self._ptz.Stop(request))

    async def move_for(
        self, pan: float, tilt: float, zoom: float, duration_s: float
    ) -> PtzPosition:
        """Move at these velocities for `duration_s`, stop, and return where it stopped."""
        await self.continuous_move(pan, tilt, zoom, timeout_s=duration_s)
        try:
            await asyncio.sleep(duration_s)
        finally:
            # Also when the caller is cancelled: the camera must not keep turning.
            await asyncio.shield(self.stop())
        return await self.status()

    async def relative_move(self, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0) -> None:
        """Step by these translations (a fraction of each axis's range)."""
        _check("translation", pan, tilt, zoom)
        request = {
            "ProfileToken": self.profile,
            "Translation": {"PanTilt": {"x": pan, "y": tilt}, "Zoom": {"x": zoom}},
        }
        await self._call(self._ptz.RelativeMove(request))

    async def goto_preset(self, token: str) -> None:
        request = {"ProfileToken": self.profile, "PresetToken": token}
        await self._call(self._ptz.GotoPreset(request), preset=token)

    async def set_preset(self, name: str, token: str | None = None) -> str:
        """Save the current position as preset `name` (overwriting `token` when given);
        returns the preset's token."""
        request: dict[str, Any] = {"ProfileToken": self.profile, "PresetName": name}
        if token is not None:
            request["PresetToken"] = token
        answer = await self._call(self._ptz.SetPreset(request), preset=token)
        return str(answer)

    async def goto_home(self) -> None:
        await self._call(self._ptz.GotoHomePosition({"ProfileToken": self.profile}))

    async def _call(self, request: Awaitable[T], preset: str | None = None) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await request
        except Exception as exc:
            if preset is not None and _is_no_token(exc):
                raise OnvifPresetError(
                    f"ONVIF device {self.host}:{self.port} has no PTZ preset {preset!r}",
                    host=self.host,
                    port=self.port,
                ) from None
            raise _mapped(
                exc, self.host, self.port, self._username, self._password, self._timeout
            ) from None


@asynccontextmanager
async def open_ptz(
    host: str,
    port: int,
    username: str,
    password: str,
    timeout: float = 5.0,  # noqa: ASYNC109  (like probe_device: a bound on each exchange)
) -> AsyncIterator[PtzSession]:
    """A `PtzSession` on the device's first media profile with a PTZ configuration.

    Raises OnvifNoPtzError when the device advertises no PTZ service or no profile carries a PTZ
    configuration, and what `probe_device` raises (OnvifAuthError, OnvifUnreachable, ...).
    """
    # The same client options as probe_device (module client): the host:port we were given
    # for every service, and WS-Security signed with the device's clock.
    cam = ONVIFCamera(
        host, port, username, password, no_cache=True, adjust_time=True, nat_override=True
    )
    try:
        try:
            async with asyncio.timeout(timeout):
                service, profile = await _ptz_service(cam, host, port)
        except OnvifError:
            raise
        except Exception as exc:
            raise _mapped(exc, host, port, username, password, timeout) from None
        yield PtzSession(
            cam, service, profile, username=username, password=password, timeout=timeout
        )
    finally:
        await close_camera(cam)


async def _ptz_service(cam: Any, host: str, port: int) -> tuple[Any, str]:
    await cam.update_xaddrs()
    where = f"ONVIF device {host}:{port}"
    if PTZ_NS not in cam.xaddrs:
        raise OnvifNoPtzError(f"{where} has no PTZ service", host=host, port=port)
    media = await cam.create_media_service()
    profiles = await media.GetProfiles() or []
    with_ptz = [p for p in profiles if getattr(p, "PTZConfiguration", None) is not None]
    if not with_ptz:
        raise OnvifNoPtzError(
            f"{where} has a PTZ service but no media profile with a PTZ configuration",
            host=host,
            port=port,
        )
    return await cam.create_ptz_service(), str(with_ptz[0].token)


def _mapped(
    exc: Exception, host: str, port: int, username: str, password: str, timeout: float
) -> Exception:
    """`exc` as an OnvifError where it is one (callers raise it `from None`: the cause may
    quote the request, which carries the digest)."""
    if isinstance(exc, OnvifError):
        return exc
    return map_error(exc, host, port, username, password, timeout) or exc


def _is_no_token(exc: Exception) -> bool:
    if not isinstance(exc, zeep.exceptions.Fault):
        return False
    codes = {getattr(q, "localname", str(q)) for q in (exc.subcodes or [])}
    return "NoToken" in codes


def _check(what: str, *values: float) -> None:
    if any(not -1.0 <= v <= 1.0 for v in values):
        raise ValueError(f"PTZ {what} components must be within [-1, 1], not {values}")


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
