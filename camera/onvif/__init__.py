"""ONVIF: ask cameras for their identity and stream URIs, and find them with WS-Discovery."""

from camera.onvif.client import (
    DeviceReport,
    ProfileReport,
    choose_streams,
    fill_stream_urls,
    probe_device,
    strip_credentials,
)
from camera.onvif.discovery import DiscoveredDevice, discover
from camera.onvif.errors import (
    OnvifAuthError,
    OnvifError,
    OnvifFault,
    OnvifProfileError,
    OnvifUnreachable,
)

__all__ = [
    "DeviceReport",
    "DiscoveredDevice",
    "OnvifAuthError",
    "OnvifError",
    "OnvifFault",
    "OnvifProfileError",
    "OnvifUnreachable",
    "ProfileReport",
    "choose_streams",
    "discover",
    "fill_stream_urls",
    "probe_device",
    "strip_credentials",
]
