"""Simulated ONVIF cameras: real SOAP device + media services on 127.0.0.1, built on ipycam.

ipycam's `ONVIFService` answers the SOAP operations and checks the WS-Security UsernameToken
digest; its HTTP handler parses requests. We never call `IPCamera.start()` (it opens a camera
pipeline and multicasts on the real network): each device is one `ThreadingHTTPServer` on a
loopback port; WS-Discovery is answered only on request, inside a private network namespace.

`_SimOnvifService` corrects the canned answers a client relies on: profiles carry the H.264
configuration, GetStreamUri returns the URI configured per profile token (the fleet's RTSP
paths), faults carry SOAP 1.2 codes (`ter:NotAuthorized` for a bad password),
GetSystemDateAndTime is pre-auth as the ONVIF core spec requires (clients read the device clock
before signing), and the ProbeMatch gets its `ProbeMatches` action and wrapper so WS-Discovery
clients (`wsdiscovery` too) accept it.

A device with `ptz=True` also has a PTZ service (`onvif_ptz.SimPtz`: moves, status, presets),
advertised by GetCapabilities and GetServices and attached to every profile; a device without
one advertises none and refuses PTZ requests (ActionNotSupported), like a fixed camera.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import yaml
from ipycam.config import CameraConfig
from ipycam.discovery import WSDiscoveryServer
from ipycam.http import IPCameraHTTPHandler
from ipycam.onvif import ONVIFService

from sharpeye.simulate.onvif_ptz import CONFIGURATION, PTZ_NS, PtzFault, SimPtz, request_operation

log = logging.getLogger(__name__)

DEFAULT_PASSWORD_ENV = "SHARPEYE_SIM_ONVIF_PASSWORD"
DEFAULT_PASSWORD = "sim-onvif"
MAIN_TOKEN = "Profile_Main"
SUB_TOKEN = "Profile_Sub"

# Device and media operations the simulated camera implements. ipycam also answers PTZ and
# snapshot operations with canned data that does not match this device (PTZ is `SimPtz`'s,
# there is no HTTP snapshot), so those get ActionNotSupported like on a fixed camera.
# fmt: off
_SUPPORTED = frozenset((
    "GetSystemDateAndTime", "GetDeviceInformation", "GetCapabilities", "GetServices",
    "GetScopes", "GetUsers", "GetProfiles", "GetProfile", "GetStreamUri",
))
# fmt: on

_FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:ter="http://www.onvif.org/ver10/error"><s:Body><s:Fault>
<s:Code><s:Value>{code}</s:Value>{subcodes}</s:Code>
<s:Reason><s:Text xml:lang="en">{reason}</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"""

_CAPABILITIES = """<tds:GetCapabilitiesResponse><tds:Capabilities>
<tt:Device><tt:XAddr>{device}</tt:XAddr>
<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>
</tt:Network>
<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye>
</tt:System></tt:Device>
<tt:Media><tt:XAddr>{media}</tt:XAddr>
<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>
<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>{ptz}
</tds:Capabilities></tds:GetCapabilitiesResponse>"""

_SERVICE = """<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{xaddr}</tds:XAddr>
<tds:Version><tt:Major>2</tt:Major><tt:Minor>5</tt:Minor></tds:Version></tds:Service>"""

_PROFILE = """<trt:{tag} token="{token}" fixed="true"><tt:Name>{name}</tt:Name>
<tt:VideoSourceConfiguration token="VSC_1"><tt:Name>VideoSource_1</tt:Name>
<tt:UseCount>{use_count}</tt:UseCount><tt:SourceToken>VS_1</tt:SourceToken>
<tt:Bounds x="0" y="0" width="{src_w}" height="{src_h}"/></tt:VideoSourceConfiguration>
<tt:VideoEncoderConfiguration token="VEC_{token}"><tt:Name>H264_{name}</tt:Name>
<tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>
<tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution>
<tt:Quality>5</tt:Quality>
<tt:RateControl><tt:FrameRateLimit>{fps}</tt:FrameRateLimit>
<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>{kbps}</tt:BitrateLimit>
</tt:RateControl>
<tt:H264><tt:GovLength>{gop}</tt:GovLength><tt:H264Profile>Baseline</tt:H264Profile></tt:H264>
<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address>
</tt:Address><tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart>
</tt:Multicast><tt:SessionTimeout>PT60S</tt:SessionTimeout>
</tt:VideoEncoderConfiguration>{ptz}</trt:{tag}>"""

_STREAM_URI = """<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{uri}</tt:Uri>
<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>
<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>
</trt:MediaUri></trt:GetStreamUriResponse>"""

_BODY_ELEMENT = re.compile(r"<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?(\w+)")
_PROFILE_TOKEN = re.compile(r"<(?:[\w.-]+:)?ProfileToken>\s*([^<\s]*)\s*<")
_PRE_AUTH = re.compile(r"<(?:[\w.-]+:)?GetSystemDateAndTime\b")


@dataclass(frozen=True)
class OnvifDeviceConfig:
    """One simulated ONVIF camera. `port=0` picks a free port (see `RunningDevice.port`)."""

    name: str
    port: int
    username: str
    password: str = field(repr=False)
    rtsp_main: str
    rtsp_sub: str | None = None
    manufacturer: str = "Sharpeye Sim"
    model: str = "SimCam-1"
    serial: str = "SIM-000001"
    firmware: str = "1.0.0"
    host: str = "127.0.0.1"
    main_size: tuple[int, int] = (1280, 720)
    sub_size: tuple[int, int] = (640, 360)
    # The fleet's clips (sharpeye/simulate/footage.py): H.264 baseline, 25 fps, GOP 50.
    main_fps: int = 25
    sub_fps: int = 25
    main_kbps: int = 2000
    sub_kbps: int = 600
    # A PTZ service (pan/tilt/zoom, presets) answered by onvif_ptz.SimPtz.
    ptz: bool = False


# Shorter name for the same description.
OnvifDevice = OnvifDeviceConfig


def _element(tag: str, inner: str) -> str:
    return f"<{tag}>{inner}</{tag}>"


def _fault(code: str, subcodes: list[str], reason: str) -> str:
    nested = ""
    for value in reversed([v for v in subcodes if v]):
        nested = f"<s:Subcode><s:Value>{value}</s:Value>{nested}</s:Subcode>"
    return _FAULT.format(code=code, subcodes=nested, reason=escape(reason))


class _SimOnvifService(ONVIFService):  # type: ignore[misc]  # ipycam ships no type hints
    """ipycam's ONVIF service with the answers a client relies on corrected (module doc)."""

    def __init__(self, device: OnvifDeviceConfig, port: int) -> None:
        config = CameraConfig(
            # The name is embedded in scope URIs (space-separated lists): keep it URI-safe.
            name=quote(device.name, safe=""),
            manufacturer=device.manufacturer,
            model=device.model,
            serial_number=device.serial,
            firmware_version=device.firmware,
            # Set explicitly: ipycam's default probes the routing table for a LAN address.
            local_ip=device.host,
            onvif_port=port,
            username=device.username,
            password=device.password,
        )  # stream sizes are not needed: the profiles are rendered from `device` below
        super().__init__(config)
        self.device = device
        # Not `self.ptz`: ipycam's own (unused) controller slot.
        self.sim_ptz = SimPtz(self._tokens) if device.ptz else None
        # WS-Discovery 2005/04: the action is .../ProbeMatches and the matches are wrapped.
        probe = self._templates["probe_match"]
        if "ProbeMatches" not in probe:
            for old, fixed in (
                ("/discovery/ProbeMatch<", "/discovery/ProbeMatches<"),
                ("<d:ProbeMatch>", "<d:ProbeMatches><d:ProbeMatch>"),
                ("</d:ProbeMatch>", "</d:ProbeMatch></d:ProbeMatches>"),
            ):
                probe = probe.replace(old, fixed)
            self._templates["probe_match"] = probe

    def _url(self, service: str) -> str:
        return f"http://{self.config.local_ip}:{self.config.onvif_port}/onvif/{service}"

    def verify_usernametoken(self, soap_body: str) -> bool:
        if _PRE_AUTH.search(soap_body):
            return True
        return bool(super().verify_usernametoken(soap_body))

    def fault(self, reason: str) -> str:
        if reason == "Sender not authorized":
            code, subcode = "s:Sender", "ter:NotAuthorized"
        elif reason.startswith("Action not supported"):
            code, subcode = "s:Sender", "ter:ActionNotSupported"
        elif reason.startswith("No such profile"):
            code, subcode = "s:Sender", "ter:InvalidArgVal"
        else:
            code, subcode = "s:Receiver", "ter:Action"
        return _fault(code, [subcode], reason)

    def _ptz_fault(self, fault: PtzFault) -> str:
        # The PTZ service names the precise error one level down (ter:NoToken, ter:NoProfile).
        code = "s:Receiver" if fault.subcode == "ter:Action" else "s:Sender"
        return _fault(code, [fault.subcode, fault.detail], str(fault))

    def handle_action(self, action: str, body: str) -> str:
        # ipycam matches actions by substring; match exact operation names instead (a SOAP 1.1
        # client sends the full action URI, a SOAP 1.2 one none, so fall back to the body).
        ptz_request = request_operation(body)
        if ptz_request is not None and self.sim_ptz is not None:
            try:
                return str(self._wrap_envelope(self.sim_ptz.handle(*ptz_request)))
            except PtzFault as fault:
                return self._ptz_fault(fault)
        name = action.rsplit("/", 1)[-1] if action else ""
        match = _BODY_ELEMENT.search(body)
        if match and (not name or name not in _SUPPORTED):
            name = match.group(1)
        if name not in _SUPPORTED or ptz_request is not None:
            return self.fault(f"Action not supported: {name or action}")
        token = self._requested_token(body)
        if name == "GetCapabilities":
            ptz = f"<tt:PTZ><tt:XAddr>{self._url('ptz_service')}</tt:XAddr></tt:PTZ>"
            inner = _CAPABILITIES.format(
                device=self._url("device_service"),
                media=self._url("media_service"),
                ptz=ptz if self.sim_ptz else "",
            )
        elif name == "GetServices":
            inner = _element(
                "tds:GetServicesResponse",
                "".join(
                    _SERVICE.format(ns=ns, xaddr=self._url(svc)) for ns, svc in self._services()
                ),
            )
        elif name == "GetProfiles":
            profiles = "".join(self._profile(t, "Profiles") for t in self._tokens())
            inner = _element("trt:GetProfilesResponse", profiles)
        elif name in ("GetProfile", "GetStreamUri") and token is None:
            return self.fault("No such profile")
        elif name == "GetProfile":
            inner = _element("trt:GetProfileResponse", self._profile(str(token), "Profile"))
        elif name == "GetStreamUri":
            uri = self.device.rtsp_main if token == MAIN_TOKEN else self.device.rtsp_sub
            inner = _STREAM_URI.format(uri=escape(uri or ""))
        else:
            return str(super().handle_action(name, body))
        return str(self._wrap_envelope(inner))

    def _services(self) -> list[tuple[str, str]]:
        services = [
            ("http://www.onvif.org/ver10/device/wsdl", "device_service"),
            ("http://www.onvif.org/ver10/media/wsdl", "media_service"),
        ]
        return [*services, (PTZ_NS, "ptz_service")] if self.sim_ptz else services

    def _tokens(self) -> list[str]:
        return [MAIN_TOKEN, SUB_TOKEN] if self.device.rtsp_sub else [MAIN_TOKEN]

    def _requested_token(self, body: str) -> str | None:
        match = _PROFILE_TOKEN.search(body)
        token = match.group(1) if match else MAIN_TOKEN
        return token if token in self._tokens() else None

    def _profile(self, token: str, tag: str) -> str:
        dev = self.device
        main = token == MAIN_TOKEN
        (w, h), fps = (dev.main_size, dev.main_fps) if main else (dev.sub_size, dev.sub_fps)
        name, kbps = ("MainStream", dev.main_kbps) if main else ("SubStream", dev.sub_kbps)
        src_w, src_h = dev.main_size
        use_count = len(self._tokens())
        ptz = CONFIGURATION if self.sim_ptz else ""
        # The template's fields are the locals above.
        return _PROFILE.format(**locals(), gop=2 * fps)


class _Handler(IPCameraHTTPHandler):  # type: ignore[misc]  # ipycam ships no type hints
    """ipycam's ONVIF request handling (auth, fault, action routing); nothing else is served."""

    server: _DeviceServer

    @property
    def camera(self) -> _DeviceServer:
        # ipycam's handler reads `self.camera.onvif`; the server plays the camera's part.
        return self.server

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        # ipycam's web UI, snapshots and MJPEG need a running camera pipeline we don't have.
        self.send_error(404)

    def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
        if self.path.startswith("/onvif/"):
            self.handle_onvif()
        else:
            self.send_error(404)


class _DeviceServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, device: OnvifDeviceConfig) -> None:
        super().__init__((device.host, device.port), _Handler)
        self.onvif = _SimOnvifService(device, self.server_address[1])


@dataclass
class RunningDevice:
    config: OnvifDeviceConfig
    server: _DeviceServer
    thread: threading.Thread
    discovery: Any = None  # ipycam WSDiscoveryServer, only when discovery was enabled

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def xaddr(self) -> str:
        return f"http://{self.config.host}:{self.port}/onvif/device_service"

    @property
    def ptz(self) -> SimPtz | None:
        """The device's PTZ service (its position and presets), None without one."""
        return self.server.onvif.sim_ptz


class OnvifPeer:
    """Running simulated devices; `stop()` closes their sockets and joins their threads."""

    def __init__(self, devices: list[RunningDevice]) -> None:
        self.devices = devices

    def stop(self) -> None:
        for dev in self.devices:
            if dev.discovery is not None:
                dev.discovery.stop()  # sends Bye inside the namespace it was started in
                dev.discovery.join(timeout=2)
            dev.server.shutdown()
            dev.server.server_close()
            dev.thread.join(timeout=2)
            if dev.ptz is not None:
                dev.ptz.stop()
        self.devices = []

    def __enter__(self) -> OnvifPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _require_private_namespace() -> None:
    """Refuse unless loopback is the only interface (a namespace from `unshare -n`): ipycam's
    discovery server joins 239.255.255.250 and multicasts Hello/Bye, which on a real network
    would reach other machines."""
    others = [name for _, name in socket.if_nameindex() if name != "lo"]
    if others:
        raise RuntimeError(
            "refusing to answer WS-Discovery: this network namespace has interfaces besides lo "
            f"({', '.join(others)}); run inside a private one (unshare -n) with lo up, "
            "multicast on and `ip route add 239.0.0.0/8 dev lo`"
        )


def start_onvif_devices(
    devices: Iterable[OnvifDeviceConfig], *, discovery: bool = False
) -> OnvifPeer:
    """Serve each device on its host:port. `discovery=True` also answers WS-Discovery Probes
    on UDP 239.255.255.250:3702 (and multicasts Hello/Bye): only inside a network namespace
    you created, never on a real network."""
    if discovery:
        _require_private_namespace()
    running: list[RunningDevice] = []
    try:
        for cfg in devices:
            if discovery and cfg.host != "127.0.0.1":
                raise ValueError("WS-Discovery is only simulated for devices on 127.0.0.1")
            server = _DeviceServer(cfg)
            thread = threading.Thread(  # short poll: stop() waits for one poll interval
                target=server.serve_forever, args=(0.05,), name=f"onvif-{cfg.name}", daemon=True
            )
            thread.start()
            dev = RunningDevice(cfg, server, thread)
            running.append(dev)
            if discovery:
                dev.discovery = WSDiscoveryServer(server.onvif)
                dev.discovery.start()
            log.info("simulated ONVIF device %s on %s", cfg.name, dev.xaddr)
    except BaseException:
        OnvifPeer(running).stop()
        raise
    return OnvifPeer(running)


def registry_devices(
    registry_path: Path, onvif_port: int, rtsp_port: int
) -> list[OnvifDeviceConfig]:
    """The devices `serve_registry_devices` would start (cameras with a loopback ONVIF host)."""
    data = yaml.safe_load(registry_path.read_text(encoding="utf-8")) or {}
    cameras = (data.get("cameras") or []) if isinstance(data, dict) else []
    devices: list[OnvifDeviceConfig] = []
    for index, cam in enumerate(cameras):
        onvif = cam.get("onvif") if isinstance(cam, dict) else None
        if not isinstance(onvif, dict) or str(onvif.get("host", "")) != "127.0.0.1":
            continue
        cam_id = str(cam["id"])
        creds = onvif.get("credentials") or {}
        password = os.environ.get(
            str(creds.get("password_env") or DEFAULT_PASSWORD_ENV), DEFAULT_PASSWORD
        )
        streams = cam.get("streams") or {}
        base = f"rtsp://127.0.0.1:{rtsp_port}/sim"
        devices.append(
            OnvifDeviceConfig(
                name=cam_id,
                port=int(onvif.get("port") or onvif_port + index),
                username=_username(creds),
                password=password,
                rtsp_main=str(streams.get("main") or f"{base}/vtest-720p/{cam_id}"),
                rtsp_sub=str(streams.get("sub") or f"{base}/vtest-360p/{cam_id}"),
                serial=f"SIM-{cam_id}",
                # Which simulated cameras are PTZ domes: those the registry tags `ptz`. The
                # platform itself never reads the tag; it finds PTZ in the device's services.
                ptz="ptz" in (cam.get("tags") or []),
            )
        )
    return devices


def _username(creds: dict[str, Any]) -> str:
    env = creds.get("username_env")
    return str(creds.get("username") or (os.environ.get(str(env)) if env else None) or "admin")


def serve_registry_devices(registry_path: Path, onvif_port: int, rtsp_port: int) -> OnvifPeer:
    """Start an ONVIF device for every registry camera whose `onvif.host` is 127.0.0.1.

    A camera without `onvif.port` gets `onvif_port + its index in the registry`. The password
    comes from the env var named by `credentials.password_env` (default
    SHARPEYE_SIM_ONVIF_PASSWORD), falling back to "sim-onvif". A camera tagged `ptz` gets a
    PTZ service. Never multicasts.
    """
    return start_onvif_devices(registry_devices(registry_path, onvif_port, rtsp_port))
