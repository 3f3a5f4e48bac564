"""Errors of the ONVIF client. Messages name the device and what to check, never a password."""

from __future__ import annotations


class OnvifError(Exception):
    """Any failure talking to an ONVIF device."""

    def __init__(self, message: str, *, host: str, port: int) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


class OnvifAuthError(OnvifError):
    """The device refused the credentials (or the user lacks the right to the operation)."""


class OnvifUnreachable(OnvifError):  # noqa: N818  (the platform's established name)
    """Nothing answered at host:port in time (refused, unroutable, timed out)."""


class OnvifFault(OnvifError):  # noqa: N818  (named after the SOAP fault it carries)
    """The device answered with a SOAP fault or an HTTP error other than an auth refusal."""

    def __init__(self, message: str, *, host: str, port: int, fault: str) -> None:
        super().__init__(message, host=host, port=port)
        self.fault = fault


class OnvifProfileError(OnvifError):
    """A media profile token that the device does not have was asked for."""


class OnvifNoPtzError(OnvifError):
    """The device has no PTZ service, or no media profile with a PTZ configuration."""


class OnvifPresetError(OnvifError):
    """A PTZ preset token that the device does not have was asked for."""
