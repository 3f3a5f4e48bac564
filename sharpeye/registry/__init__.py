"""The camera registry: one YAML file saying who owns which camera and how to reach it.

`load_registry` validates it with every problem located by file, line and key path;
`RegistryWatcher` reloads it on edit; `resolve_credentials` turns references into passwords
at the moment of use.
"""

from sharpeye.registry.credentials import Credentials, resolve_credentials
from sharpeye.registry.errors import CredentialError, Problem, RegistryError
from sharpeye.registry.loader import load_registry, parse_registry
from sharpeye.registry.schema import (
    AnalyticsProfile,
    Camera,
    CameraGroup,
    CameraIngest,
    CameraTls,
    CredentialRef,
    Department,
    District,
    Grant,
    Line,
    Location,
    OnvifEndpoint,
    Registry,
    Sampling,
    Streams,
    Zone,
)
from sharpeye.registry.urls import redact_url, with_credentials
from sharpeye.registry.watch import RegistryDiff, RegistryWatcher, diff_registries

__all__ = [
    "AnalyticsProfile",
    "Camera",
    "CameraGroup",
    "CameraIngest",
    "CameraTls",
    "CredentialError",
    "CredentialRef",
    "Credentials",
    "Department",
    "District",
    "Grant",
    "Line",
    "Location",
    "OnvifEndpoint",
    "Problem",
    "Registry",
    "RegistryDiff",
    "RegistryError",
    "RegistryWatcher",
    "Sampling",
    "Streams",
    "Zone",
    "diff_registries",
    "load_registry",
    "parse_registry",
    "redact_url",
    "resolve_credentials",
    "with_credentials",
]
