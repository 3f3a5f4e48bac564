"""Ask an ONVIF camera what it is and where its streams are (onvif-zeep-async, Media service 1).

Every failure becomes an `OnvifError` subclass whose message names host:port and what to check;
the password never appears in a message or a log line, and stream URIs come back without any
credentials the device may have embedded in them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import zeep.exceptions

from camera.onvif.errors import (
    OnvifAuthError,
    OnvifError,
    OnvifFault,
    OnvifProfileError,
    OnvifUnreachable,
)


def _import_onvif() -> tuple[Any, type[Exception], type[Exception]]:
    # onvif.client calls logging.basicConfig(level=INFO) at import: that would give the root
    # logger a stderr handler before the platform configures its own (JSON) logging, which
    # basicConfig would then silently skip. Undo it.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from onvif import ONVIFCamera
    from onvif.exceptions import ONVIFError, ONVIFTimeoutError

    root.handlers[:], root.level = handlers, level
    return ONVIFCamera, ONVIFError, ONVIFTimeoutError


ONVIFCamera, ONVIFError, ONVIFTimeoutError = _import_onvif()

log = logging.getLogger(__name__)

# Query keys some firmwares use to put credentials into the stream URI they return.
_CREDENTIAL_KEYS = frozenset({"user", "username", "usr", "password", "pass", "pwd", "passwd"})
# Fault subcodes (local names) and HTTP statuses that mean "wrong credentials".
_AUTH_SUBCODES = frozenset({"NotAuthorized", "FailedAuthentication", "InvalidSecurityToken"})
_AUTH_HINTS = ("not authorized", "unauthorized", "authenticat", "password", "credential")


@dataclass(frozen=True)
class ProfileReport:
    token: str
    name: str
    encoding: str | None  # H264, H265, JPEG, MPEG4; None for a profile without video encoder
    width: int | None
    height: int | None
    fps: float | None
    stream_uri: str | None  # RTSP, RTP-Unicast over RTSP; None if the device refused it
    stream_error: str | None = None

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


@dataclass(frozen=True)
class DeviceReport:
    host: str
    port: int
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str
    profiles: tuple[ProfileReport, ...]


def strip_credentials(uri: str) -> str:
    """`uri` without user:pass@ and without credential query parameters."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        kept = [
            (k, v)
            for k, v in parse_qsl(query, keep_blank_values=True)
            if k.lower() not in _CREDENTIAL_KEYS
        ]
        query = urlencode(kept)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


async def probe_device(
    host: str,
    port: int,
    username: str,
    password: str,
    timeout: float = 5.0,  # noqa: ASYNC109  (the platform's API: a bound on the whole exchange)
) -> DeviceReport:
    """Device information, media profiles and each profile's RTSP URI.

    `timeout` bounds the whole exchange. Raises OnvifAuthError, OnvifUnreachable, OnvifFault
    (all OnvifError).
    """
    # nat_override: use the host:port we were given for every service, not the XAddrs the
    # device advertises (a LAN address behind NAT, or a bind address such as 0.0.0.0).
    # adjust_time: sign with the device's clock (read pre-auth), since cameras reject a
    # UsernameToken whose Created time is off by more than a few minutes.
    cam = ONVIFCamera(
        host, port, username, password, no_cache=True, adjust_time=True, nat_override=True
    )
    try:
        async with asyncio.timeout(timeout):
            return await _probe(cam, host, port)
    except OnvifError:
        raise
    except Exception as exc:
        mapped = map_error(exc, host, port, username, password, timeout)
        if mapped is None:
            raise
        raise mapped from None  # the cause may quote the request, which carries the digest
    finally:
        await close_camera(cam)


async def fill_stream_urls(
    host: str,
    port: int,
    username: str,
    password: str,
    profile: str | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109  (passed on to probe_device)
) -> tuple[str, str | None]:
    """(main, sub) stream URIs: the named profile as main, or the highest-resolution one; the
    lowest-resolution profile smaller than main as sub (None if there is none). Raises what
    probe_device raises, and OnvifProfileError for a token the device does not have."""
    report = await probe_device(host, port, username, password, timeout)
    return choose_streams(report, profile)


def choose_streams(report: DeviceReport, profile: str | None = None) -> tuple[str, str | None]:
    """`fill_stream_urls`' choice, on a report already in hand."""
    usable = [p for p in report.profiles if p.stream_uri]
    where = f"ONVIF device {report.host}:{report.port}"
    if not usable:
        raise OnvifFault(
            f"{where} returned no stream URI for any media profile",
            host=report.host,
            port=report.port,
            fault="no stream URI",
        )
    if profile is not None:
        named = [p for p in usable if p.token == profile]
        if not named:
            tokens = ", ".join(p.token for p in report.profiles) or "none"
            raise OnvifProfileError(
                f"{where} has no media profile {profile!r} with a stream URI "
                f"(profiles: {tokens}): check the registry's onvif.profile",
                host=report.host,
                port=report.port,
            )
        main = named[0]
    else:
        main = max(usable, key=lambda p: p.pixels)
    # The sub stream is for walls and thumbnails: only a profile smaller than main qualifies.
    smaller = [p for p in usable if p.pixels < main.pixels and p.stream_uri != main.stream_uri]
    sub = min(smaller, key=lambda p: p.pixels) if smaller else None
    assert main.stream_uri is not None
    return main.stream_uri, sub.stream_uri if sub else None


async def _probe(cam: Any, host: str, port: int) -> DeviceReport:
    await cam.update_xaddrs()
    devicemgmt = await cam.create_devicemgmt_service()
    info = await devicemgmt.GetDeviceInformation()
    media = await cam.create_media_service()
    profiles = await media.GetProfiles() or []
    reports = [await _profile_report(media, p, host, port) for p in profiles]
    return DeviceReport(
        host=host,
        port=port,
        manufacturer=_text(info, "Manufacturer"),
        model=_text(info, "Model"),
        firmware=_text(info, "FirmwareVersion"),
        serial=_text(info, "SerialNumber"),
        hardware_id=_text(info, "HardwareId"),
        profiles=tuple(reports),
    )


async def _profile_report(media: Any, profile: Any, host: str, port: int) -> ProfileReport:
    token = str(profile.token)
    enc = getattr(profile, "VideoEncoderConfiguration", None)
    resolution = getattr(enc, "Resolution", None)
    rate = getattr(enc, "RateControl", None)
    uri: str | None = None
    error: str | None = None
    request = {
        "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
        "ProfileToken": token,
    }
    try:
        answer = await media.GetStreamUri(request)
        uri = strip_credentials(str(answer.Uri)) if getattr(answer, "Uri", None) else None
    except zeep.exceptions.Fault as fault:
        if _is_auth_fault(fault):
            raise
        # One profile without RTSP (e.g. metadata only) must not hide the others.
        error = _fault_text(fault)
        log.info("ONVIF %s:%s: no stream URI for profile %s: %s", host, port, token, error)
    return ProfileReport(
        token=token,
        name=str(getattr(profile, "Name", "") or token),
        encoding=str(enc.Encoding) if enc is not None and enc.Encoding else None,
        width=_int(getattr(resolution, "Width", None)),
        height=_int(getattr(resolution, "Height", None)),
        fps=_float(getattr(rate, "FrameRateLimit", None)),
        stream_uri=uri,
        stream_error=error,
    )


def map_error(
    exc: BaseException, host: str, port: int, username: str, password: str, timeout: float
) -> OnvifError | None:
    """The `OnvifError` an onvif-zeep-async failure means (None: not one we map); the
    password is redacted from any text that quotes it. Shared with the PTZ client."""
    where = f"ONVIF device {host}:{port}"
    for err in _chain(exc):
        if isinstance(err, zeep.exceptions.Fault):
            text = _redact(_fault_text(err), password)
            if _is_auth_fault(err):
                return _auth_error(where, username, text, host, port)
            return OnvifFault(
                f"{where} answered with a SOAP fault: {text}", host=host, port=port, fault=text
            )
        if isinstance(err, zeep.exceptions.TransportError):
            if err.status_code in (401, 403):
                return _auth_error(where, username, f"HTTP {err.status_code}", host, port)
            text = f"HTTP {err.status_code}"
            return OnvifFault(
                f"{where} answered {text} to a SOAP request: check that {host}:{port} is the "
                "camera's ONVIF port and that ONVIF is enabled on it",
                host=host,
                port=port,
                fault=text,
            )
        if isinstance(err, TimeoutError | ONVIFTimeoutError):
            return OnvifUnreachable(
                f"{where} did not answer within {timeout:g} s: check that the camera is up, "
                f"that {host}:{port} is its ONVIF port and that no firewall drops the traffic",
                host=host,
                port=port,
            )
        if isinstance(err, aiohttp.ClientConnectionError | ConnectionError | OSError):
            reason = _connection_reason(exc, password)
            return OnvifUnreachable(
                f"{where} is unreachable ({reason}): check the host, the port (ONVIF is "
                "often on 80, 8000 or 8080) and that ONVIF is enabled on the camera",
                host=host,
                port=port,
            )
        if isinstance(err, zeep.exceptions.XMLSyntaxError | zeep.exceptions.XMLParseError):
            return OnvifError(
                f"{where} did not answer with SOAP XML: check that {host}:{port} is the "
                "camera's ONVIF port",
                host=host,
                port=port,
            )
    if isinstance(exc, ONVIFError | zeep.exceptions.Error | aiohttp.ClientError):
        return OnvifError(f"{where}: {_redact(str(exc), password)}", host=host, port=port)
    return None


def _connection_reason(exc: BaseException, password: str) -> str:
    chain = _chain(exc)
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    os_errors = [e for e in chain if isinstance(e, OSError) and e.strerror]
    text = str(os_errors[-1].strerror) if os_errors else str(chain[-1])
    return _redact(text, password)


def _auth_error(where: str, username: str, why: str, host: str, port: int) -> OnvifAuthError:
    if not username:
        return OnvifAuthError(
            f"{where} refused a request without credentials ({why}): give the camera's user "
            "and password (a credentials reference)",
            host=host,
            port=port,
        )
    return OnvifAuthError(
        f"{where} refused the credentials for user {username!r} ({why}): check the camera's "
        "credentials reference",
        host=host,
        port=port,
    )


def _is_auth_fault(fault: zeep.exceptions.Fault) -> bool:
    codes = [getattr(q, "localname", str(q)) for q in (fault.subcodes or [])]
    if any(c in _AUTH_SUBCODES for c in codes):
        return True
    text = (fault.message or "").lower()
    return any(hint in text for hint in _AUTH_HINTS)


def _fault_text(fault: zeep.exceptions.Fault) -> str:
    return str(fault.message or fault.code or "unspecified fault").strip()


def _redact(text: str, password: str) -> str:
    # A device could echo request fields back in its fault text; never let the password out.
    return text.replace(password, "***") if password else text


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


async def close_camera(cam: Any) -> None:
    try:
        await cam.close()
    except Exception as exc:  # closing must not mask the real outcome
        log.debug("closing ONVIF client for %s:%s: %s", cam.host, cam.port, exc)


def _text(obj: Any, name: str) -> str:
    value = getattr(obj, name, None)
    return "" if value is None else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
