"""The registry one API process serves (`RegistryHolder`), swapped whole on each good reload.

Its own module, below `command_api.runtime`: the alarm services read it (the consumer routes
events by it) and the runtime holds those services, so neither may import the other's module
for it (tests/test_layers.py checks for circles).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sharpeye.registry import Registry


@dataclass
class RegistryHolder:
    """The registry the API serves: the last one that loaded without errors.

    Reloads replace `registry` whole (models are frozen snapshots), so a request that took
    a reference keeps a consistent view while an edit lands.
    """

    path: Path
    registry: Registry
    loaded_at: float
    # Why the newest edit was rejected (file:line: key: message; never a secret), until fixed.
    reload_error: str | None = None
