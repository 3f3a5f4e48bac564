"""Messages that cross a process boundary (JSON over Redis / HTTP); no pickles."""

from sharpeye.contracts.health import CameraHealth, CameraState

__all__ = ["CameraHealth", "CameraState"]
