"""What an export package states about itself: `manifest.json`, signed as it is stored.

`Export` is what the exporting side knows (instance, camera, times, who, why, the case);
`Manifest` adds what the package writer measured (each file's SHA-256 and size) and the
fingerprint of the key that signs it. The signature covers the manifest's exact bytes, so
those bytes are made one way only (`canonical`: sorted keys, no spaces, UTF-8) and a
verifier checks the bytes it finds, never a re-serialisation of what it parsed.

Every string is bounded and every file path is a plain name under `media/`: a manifest read
from an untrusted package can name nothing outside it.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

Format = Literal["sharpeye-evidence/1"]
FORMAT: Format = "sharpeye-evidence/1"
MEDIA_DIR = "media/"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.pem"
# The members a package holds besides its media.
CONTROL = (MANIFEST, SIGNATURE, PUBLIC_KEY)
# A media file's name inside the package: what an evidence reference's parts allow.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Case and reason are written by a person and end up in court papers: printable, bounded.
Printable = StringConstraints(min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Instance(_Model):
    """The platform that made the export: its district (the registry's `district.id`)."""

    id: Text = Field(description="The instance's id: its registry's district id.")
    name: Text = Field(description="The district's display name.")
    node: Text = Field(description="The API node (SHARPEYE_NODE_ID) that wrote the package.")


class Camera(_Model):
    id: Text
    name: Text


class Exporter(_Model):
    actor: Text = Field(description="Who exported it: `user:<name>` or `key:<name>` style.")
    department: Text


class MediaFile(_Model):
    path: Annotated[str, StringConstraints(max_length=200)] = Field(
        description="The member's name in the package: `media/<name>`."
    )
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(ge=0, description="Bytes.")
    media_type: Annotated[str, StringConstraints(min_length=1, max_length=100)]

    @field_validator("path")
    @classmethod
    def plain_media_name(cls, value: str) -> str:
        name = value.removeprefix(MEDIA_DIR)
        if not value.startswith(MEDIA_DIR) or not NAME.match(name):
            raise ValueError(f"not a media file's name (media/<name>): {value!r}")
        return value


class Export(_Model):
    """What was exported, from where, by whom and why."""

    export_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    instance: Instance
    camera: Camera
    evidence_ref: Text = Field(description="The evidence reference the media was served as.")
    start: AwareDatetime | None = Field(
        description="When the media begins (a snapshot: when it was taken); None: not known."
    )
    end: AwareDatetime = Field(description="When the media ends (a snapshot: when it was taken).")
    exported_at: AwareDatetime
    exported_by: Exporter
    case: Annotated[str, Printable, StringConstraints(max_length=64)]
    reason: Annotated[str, Printable, StringConstraints(max_length=500)]


class Manifest(Export):
    format: Format = FORMAT
    files: tuple[MediaFile, ...] = Field(min_length=1, max_length=256)
    key_fingerprint: Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]

    @field_validator("files")
    @classmethod
    def distinct_paths(cls, value: tuple[MediaFile, ...]) -> tuple[MediaFile, ...]:
        paths = [f.path for f in value]
        if len(set(paths)) != len(paths):
            raise ValueError("a file is listed twice")
        return value

    def canonical(self) -> bytes:
        """The bytes that are stored and signed."""
        data = self.model_dump(mode="json")
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
