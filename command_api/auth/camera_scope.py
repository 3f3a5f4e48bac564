"""`CameraScope`: which cameras a caller may see (computed by `command_api.auth.scope`).

Its own module, importing nothing of the API's: the runtime (which remembers scopes per
department) and the live hub (which filters by them) need the type, and `auth.scope` needs
the runtime, so a type kept there would close an import circle (tests/test_layers.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from command_api.auth.principal import Principal


@dataclass(frozen=True)
class CameraScope:
    """Which cameras the caller may see; `camera_ids` None means every camera."""

    camera_ids: frozenset[str] | None = None
    description: str = "all cameras"
    principal: Principal | None = None

    def allows(self, camera_id: str) -> bool:
        return self.camera_ids is None or camera_id in self.camera_ids


ALL_CAMERAS = CameraScope()
