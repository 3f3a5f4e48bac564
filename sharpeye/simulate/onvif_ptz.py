"""The PTZ service (ONVIF ver20/ptz) of a simulated camera: moves, status and presets.

The position, the continuous movement and the presets are ipycam's `PTZController` (a
background thread integrates velocities into pan/tilt/zoom). Its SOAP answers are not used:
they carry a `ptz:` prefix the envelope never declares, a GetStatus with unfilled
`{{placeholders}}` where a client parses an xs:dateTime, and SetPreset reads the preset
token from an attribute instead of the `PresetToken` element, so an onvif-zeep-async client
fails on them. Requests are parsed here as XML and answered from the controller's state.

Like a real camera, ContinuousMove honours its `Timeout` (the camera stops by itself when
the client that started a move goes away) and GotoPreset refuses an unknown token.
"""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ipycam.ptz import PTZController, PTZPreset

PTZ_NS = "http://www.onvif.org/ver20/ptz/wsdl"
NODE_TOKEN = "PTZ_Node_1"
CONFIG_TOKEN = "PTZ_Config_1"
MAX_PRESETS = 10
# ONVIF's generic spaces: pan/tilt in [-1, 1], zoom in [0, 1], velocities in [-1, 1].
_SPACES = "http://www.onvif.org/ver10/tptz"
PT_POSITION = f"{_SPACES}/PanTiltSpaces/PositionGenericSpace"
ZOOM_POSITION = f"{_SPACES}/ZoomSpaces/PositionGenericSpace"
PT_TRANSLATION = f"{_SPACES}/PanTiltSpaces/TranslationGenericSpace"
ZOOM_TRANSLATION = f"{_SPACES}/ZoomSpaces/TranslationGenericSpace"
PT_VELOCITY = f"{_SPACES}/PanTiltSpaces/VelocityGenericSpace"
ZOOM_VELOCITY = f"{_SPACES}/ZoomSpaces/VelocityGenericSpace"

# fmt: off
OPERATIONS = frozenset((
    "GetServiceCapabilities", "GetNodes", "GetNode", "GetConfigurations", "GetConfiguration",
    "GetStatus", "ContinuousMove", "Stop", "AbsoluteMove", "RelativeMove", "GotoHomePosition",
    "GetPresets", "SetPreset", "GotoPreset", "RemovePreset",
))
# fmt: on

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def _range(tag: str, lo: float, hi: float) -> str:
    return f"<tt:{tag}><tt:Min>{lo}</tt:Min><tt:Max>{hi}</tt:Max></tt:{tag}>"


def _space(tag: str, uri: str, x: tuple[float, float], y: bool) -> str:
    yr = _range("YRange", -1.0, 1.0) if y else ""
    return f"<tt:{tag}><tt:URI>{uri}</tt:URI>{_range('XRange', *x)}{yr}</tt:{tag}>"


_NODE = (
    f'<tptz:PTZNode token="{NODE_TOKEN}" FixedHomePosition="false">'
    "<tt:Name>SimPTZ</tt:Name><tt:SupportedPTZSpaces>"
    + _space("AbsolutePanTiltPositionSpace", PT_POSITION, (-1.0, 1.0), True)
    + _space("AbsoluteZoomPositionSpace", ZOOM_POSITION, (0.0, 1.0), False)
    + _space("RelativePanTiltTranslationSpace", PT_TRANSLATION, (-1.0, 1.0), True)
    + _space("RelativeZoomTranslationSpace", ZOOM_TRANSLATION, (-1.0, 1.0), False)
    + _space("ContinuousPanTiltVelocitySpace", PT_VELOCITY, (-1.0, 1.0), True)
    + _space("ContinuousZoomVelocitySpace", ZOOM_VELOCITY, (-1.0, 1.0), False)
    + f"</tt:SupportedPTZSpaces><tt:MaximumNumberOfPresets>{MAX_PRESETS}"
    "</tt:MaximumNumberOfPresets><tt:HomeSupported>true</tt:HomeSupported></tptz:PTZNode>"
)

# Element order follows tt:PTZConfiguration (UseCount is required; ipycam leaves it out).
CONFIGURATION = (
    f'<tt:PTZConfiguration token="{CONFIG_TOKEN}"><tt:Name>PTZConfiguration</tt:Name>'
    f"<tt:UseCount>1</tt:UseCount><tt:NodeToken>{NODE_TOKEN}</tt:NodeToken>"
    f"<tt:DefaultAbsolutePantTiltPositionSpace>{PT_POSITION}"
    "</tt:DefaultAbsolutePantTiltPositionSpace>"
    f"<tt:DefaultAbsoluteZoomPositionSpace>{ZOOM_POSITION}</tt:DefaultAbsoluteZoomPositionSpace>"
    f"<tt:DefaultRelativePanTiltTranslationSpace>{PT_TRANSLATION}"
    "</tt:DefaultRelativePanTiltTranslationSpace>"
    f"<tt:DefaultRelativeZoomTranslationSpace>{ZOOM_TRANSLATION}"
    "</tt:DefaultRelativeZoomTranslationSpace>"
    f"<tt:DefaultContinuousPanTiltVelocitySpace>{PT_VELOCITY}"
    "</tt:DefaultContinuousPanTiltVelocitySpace>"
    f"<tt:DefaultContinuousZoomVelocitySpace>{ZOOM_VELOCITY}"
    "</tt:DefaultContinuousZoomVelocitySpace>"
    '<tt:DefaultPTZSpeed><tt:PanTilt x="0.5" y="0.5"/><tt:Zoom x="0.5"/></tt:DefaultPTZSpeed>'
    "<tt:DefaultPTZTimeout>PT10S</tt:DefaultPTZTimeout>"
    f"<tt:PanTiltLimits><tt:Range><tt:URI>{PT_POSITION}</tt:URI>"
    f"{_range('XRange', -1.0, 1.0)}{_range('YRange', -1.0, 1.0)}</tt:Range></tt:PanTiltLimits>"
    f"<tt:ZoomLimits><tt:Range><tt:URI>{ZOOM_POSITION}</tt:URI>"
    f"{_range('XRange', 0.0, 1.0)}</tt:Range></tt:ZoomLimits></tt:PTZConfiguration>"
)


class PtzFault(Exception):  # noqa: N818  (a SOAP fault to answer, not a failure here)
    """A request the PTZ service refuses: rendered as a SOAP fault by the device."""

    def __init__(self, reason: str, subcode: str, detail: str) -> None:
        super().__init__(reason)
        self.subcode = subcode  # ter:InvalidArgVal, ter:Action
        self.detail = detail  # ter:NoProfile, ter:NoToken, ter:TooManyPresets...


class _Controller(PTZController):  # type: ignore[misc]  # ipycam ships no type hints
    """ipycam's controller without its presets file: it reads and writes
    `ptz_presets.json` in the working directory, which several devices in one process (and
    a developer's checkout) must not share. Presets live as long as the device."""

    def _load_presets(self, filepath: str = "") -> None:
        self.presets["home"] = PTZPreset("home", "Home", 0.0, 0.0, 0.0)

    def _save_presets(self, filepath: str = "") -> None:
        pass


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: ET.Element | None, *names: str) -> ET.Element | None:
    """The first descendant path `names` (local names, any namespace) under `elem`."""
    for name in names:
        if elem is None:
            return None
        elem = next((c for c in elem if _local(c.tag) == name), None)
    return elem


def _attr(elem: ET.Element | None, name: str) -> float | None:
    if elem is None or elem.get(name) is None:
        return None
    try:
        return float(elem.get(name, ""))
    except ValueError:
        raise PtzFault(
            f"{name} is not a number", "ter:InvalidArgVal", "ter:InvalidVector"
        ) from None


def _text(elem: ET.Element | None) -> str | None:
    return None if elem is None or elem.text is None else elem.text.strip()


def _vector(elem: ET.Element | None) -> tuple[float | None, float | None, float | None]:
    """(x of PanTilt, y of PanTilt, x of Zoom) of a PTZVector or PTZSpeed element."""
    pan_tilt, zoom = _child(elem, "PanTilt"), _child(elem, "Zoom")
    return _attr(pan_tilt, "x"), _attr(pan_tilt, "y"), _attr(zoom, "x")


def parse_duration(text: str) -> float:
    """Seconds of an xs:duration such as PT1.5S or PT1M (days at most: no months or years)."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        raise PtzFault(f"bad Timeout {text!r}", "ter:InvalidArgVal", "ter:InvalidTimeout")
    d, h, m, s = (float(match.group(k) or 0) for k in "dhms")
    return ((d * 24 + h) * 60 + m) * 60 + s


def request_operation(body: str) -> tuple[str, ET.Element] | None:
    """(operation, element) when `body` is an envelope whose request is in the PTZ namespace."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    soap_body = next((c for c in root if _local(c.tag) == "Body"), None)
    request = next(iter(soap_body), None) if soap_body is not None else None
    if request is None or not request.tag.startswith(f"{{{PTZ_NS}}}"):
        return None
    return _local(request.tag), request


class SimPtz:
    """One device's PTZ service. `handle` answers one request; `stop` ends the controller's
    movement thread (and a pending move timeout)."""

    def __init__(self, profile_tokens: Callable[[], Sequence[str]]) -> None:
        self._profile_tokens = profile_tokens
        self.controller = _Controller(enable_digital_ptz=False)
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()

    def position(self) -> tuple[float, float, float]:
        """(pan, tilt, zoom) now: what a test or a demo checks after a move."""
        status = self.controller.get_status()
        return float(status["pan"]), float(status["tilt"]), float(status["zoom"])

    def stop(self) -> None:
        self._cancel_timer()
        self.controller.stop()

    def handle(self, operation: str, request: ET.Element) -> str:
        """The response element (without envelope) for `request`; raises PtzFault."""
        if operation not in OPERATIONS:
            raise PtzFault(f"Action not supported: {operation}", "ter:ActionNotSupported", "")
        if operation == "GetServiceCapabilities":
            return _response(
                operation, '<tptz:Capabilities MoveStatus="true" StatusPosition="true"/>'
            )
        if operation in ("GetNodes", "GetNode"):
            token = _text(_child(request, "NodeToken"))
            if operation == "GetNode" and token != NODE_TOKEN:
                raise PtzFault("No such PTZ node", "ter:InvalidArgVal", "ter:NoEntity")
            return _response(operation, _NODE)
        if operation in ("GetConfigurations", "GetConfiguration"):
            if operation == "GetConfiguration":
                token = _text(_child(request, "PTZConfigurationToken"))
                if token != CONFIG_TOKEN:
                    raise PtzFault("No such PTZ configuration", "ter:InvalidArgVal", "ter:NoConfig")
            # Same element as in a profile, but in the PTZ namespace here.
            configuration = CONFIGURATION.replace("tt:PTZConfiguration", "tptz:PTZConfiguration")
            return _response(operation, configuration)
        self._check_profile(request)
        return self._profile_operation(operation, request)

    def _check_profile(self, request: ET.Element) -> None:
        token = _text(_child(request, "ProfileToken"))
        if token not in self._profile_tokens():
            raise PtzFault(f"No such profile: {token}", "ter:InvalidArgVal", "ter:NoProfile")

    def _profile_operation(self, operation: str, request: ET.Element) -> str:
        ctl = self.controller
        if operation == "GetStatus":
            return _response(operation, self._status())
        if operation == "ContinuousMove":
            pan, tilt, zoom = _vector(_child(request, "Velocity"))
            timeout = _text(_child(request, "Timeout"))
            seconds = parse_duration(timeout) if timeout else None
            self._cancel_timer()
            ctl.continuous_move(pan or 0.0, tilt or 0.0, zoom or 0.0)
            if seconds is not None:
                self._start_timer(seconds)
        elif operation == "Stop":
            pan_tilt = _text(_child(request, "PanTilt")) != "false"
            zoom = _text(_child(request, "Zoom")) != "false"
            self._cancel_timer()
            ctl.stop_movement(pan_tilt, zoom)
        elif operation == "AbsoluteMove":
            self._cancel_timer()
            ctl.absolute_move(*_vector(_child(request, "Position")))
        elif operation == "RelativeMove":
            pan, tilt, zoom = _vector(_child(request, "Translation"))
            self._cancel_timer()
            ctl.relative_move(pan or 0.0, tilt or 0.0, zoom or 0.0)
        elif operation == "GotoHomePosition":
            self._cancel_timer()
            ctl.goto_home()
        elif operation == "GetPresets":
            presets = sorted(ctl.get_presets().values(), key=lambda p: p.token)
            return _response(operation, "".join(_preset(p) for p in presets))
        elif operation == "SetPreset":
            return _response(operation, self._set_preset(request))
        elif operation in ("GotoPreset", "RemovePreset"):
            token = _text(_child(request, "PresetToken")) or ""
            self._cancel_timer()
            done = ctl.goto_preset(token) if operation == "GotoPreset" else ctl.remove_preset(token)
            if not done:
                raise PtzFault(f"No such preset: {token}", "ter:InvalidArgVal", "ter:NoToken")
        return _response(operation, "")

    def _set_preset(self, request: ET.Element) -> str:
        ctl = self.controller
        presets = ctl.get_presets()
        token = _text(_child(request, "PresetToken"))
        name = _text(_child(request, "PresetName"))
        if token:
            if token not in presets:  # the spec: a given token must name an existing preset
                raise PtzFault(f"No such preset: {token}", "ter:InvalidArgVal", "ter:NoToken")
            name = name or presets[token].name
        else:
            if len(presets) >= MAX_PRESETS:
                raise PtzFault("Too many presets", "ter:Action", "ter:TooManyPresets")
            token = next(
                f"preset-{i}" for i in range(1, MAX_PRESETS + 2) if f"preset-{i}" not in presets
            )
        ctl.set_preset(token, name or token)
        return f"<tptz:PresetToken>{escape(token)}</tptz:PresetToken>"

    def _status(self) -> str:
        status: dict[str, Any] = self.controller.get_status()
        move = "MOVING" if status["moving"] else "IDLE"
        utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return (
            f"<tptz:PTZStatus><tt:Position>"
            f'<tt:PanTilt x="{status["pan"]:.6f}" y="{status["tilt"]:.6f}" space="{PT_POSITION}"/>'
            f'<tt:Zoom x="{status["zoom"]:.6f}" space="{ZOOM_POSITION}"/></tt:Position>'
            f"<tt:MoveStatus><tt:PanTilt>{move}</tt:PanTilt><tt:Zoom>{move}</tt:Zoom>"
            f"</tt:MoveStatus><tt:UtcTime>{utc}</tt:UtcTime></tptz:PTZStatus>"
        )

    def _start_timer(self, seconds: float) -> None:
        timer = threading.Timer(seconds, self._timed_out)
        timer.daemon = True
        with self._timer_lock:
            self._timer = timer
        timer.start()

    def _timed_out(self) -> None:
        with self._timer_lock:
            if self._timer is not threading.current_thread():
                return  # a newer move replaced this one
            self._timer = None
        self.controller.stop_movement()

    def _cancel_timer(self) -> None:
        with self._timer_lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()


def _preset(p: PTZPreset) -> str:
    return (
        f"<tptz:Preset token={quoteattr(str(p.token))}><tt:Name>{escape(str(p.name))}</tt:Name>"
        f'<tt:PTZPosition><tt:PanTilt x="{p.pan:.6f}" y="{p.tilt:.6f}" space="{PT_POSITION}"/>'
        f'<tt:Zoom x="{p.zoom:.6f}" space="{ZOOM_POSITION}"/></tt:PTZPosition></tptz:Preset>'
    )


def _response(operation: str, inner: str) -> str:
    # The envelope (ipycam's) declares tt but not tptz: declare it on the response.
    tag = f"tptz:{operation}Response"
    return f'<{tag} xmlns:tptz="{PTZ_NS}">{inner}</{tag}>'
