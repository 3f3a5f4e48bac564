"""Process settings, read from the environment (and `.env`), one object per process.

Empty `REDIS_URL` / `DATABASE_URL` select the embedded defaults of a single node: a Redis
server the platform starts and owns, and a SQLite file under the data directory.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    registry: Path = Field(
        default=Path("camera_registry.yaml"),
        validation_alias="SHARPEYE_REGISTRY",
        description="Camera registry file (YAML).",
    )
    data_dir: Path = Field(
        default=Path("var"),
        validation_alias="SHARPEYE_DATA_DIR",
        description="Where footage, the embedded Redis socket, SQLite and logs live.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias="REDIS_URL",
        description="External Redis; empty starts an embedded one.",
    )
    redis_password: str | None = Field(
        default=None,
        validation_alias="REDIS_PASSWORD",
        repr=False,
        description="Password for REDIS_URL when the URL has none (so the URL can stay in "
        "plain configuration and the password in a secret).",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL; empty uses SQLite in the data directory.",
    )
    secrets_file: Path | None = Field(
        default=None,
        validation_alias="SHARPEYE_SECRETS_FILE",
        description="YAML/`.env`-style file of camera credentials referenced by the registry.",
    )
    api_host: str = Field(default="127.0.0.1", validation_alias="SHARPEYE_API_HOST")
    api_port: int = Field(default=8080, validation_alias="SHARPEYE_API_PORT", ge=1, le=65535)
    node_id: str = Field(
        default_factory=socket.gethostname,
        validation_alias="SHARPEYE_NODE_ID",
        description="This process's name in camera leases and the alarm consumer group; "
        "empty or unset: the host name (unique per container or pod, so scaled replicas "
        "never share one).",
    )
    sightings_retention_days: float = Field(
        default=90.0,
        gt=0,
        validation_alias="SHARPEYE_SIGHTINGS_RETENTION_DAYS",
        description="Sightings (plates, faces, looks) are searchable this long, then deleted.",
    )
    clip_buffer_s: float = Field(
        default=24.0,
        ge=0.0,
        le=180.0,
        validation_alias="SHARPEYE_CLIP_BUFFER_S",
        description="Seconds of video each analysed camera keeps in memory for alarm clips "
        "(whole GOPs; at least the widest rule's clip_before_s + clip_after_s plus one GOP). "
        "0 writes no clips.",
    )
    clip_buffer_mb: float = Field(
        default=8.0,
        gt=0.0,
        le=256.0,
        validation_alias="SHARPEYE_CLIP_BUFFER_MB",
        description="Memory bound of each camera's clip buffer: a high-bitrate camera keeps "
        "fewer seconds rather than more memory.",
    )
    recording_budget_gb: float | None = Field(
        default=None,
        gt=0.0,
        validation_alias="SHARPEYE_RECORDING_BUDGET_GB",
        description="Disk this node's recordings may take (GB); past it the oldest unlocked "
        "segments go, whatever their cameras' retain_days. Unset: age alone.",
    )
    recording_queue_mb: float = Field(
        default=16.0,
        gt=0.0,
        le=512.0,
        validation_alias="SHARPEYE_RECORDING_QUEUE_MB",
        description="Memory a recorded camera's units may wait in for the disk; past it, "
        "units are dropped to the next keyframe and the camera's health says so.",
    )
    gb28181_media_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        validation_alias="SHARPEYE_GB28181_MEDIA_HOST",
        description="The address of this node (its ingest worker, its relay) that GB/T 28181 "
        "devices send RTP to (offered in the INVITE's SDP, bound for receiving): one they "
        "can reach.",
    )
    lease_ttl_s: float = Field(
        default=8.0,
        ge=2.0,
        le=120.0,
        validation_alias="SHARPEYE_LEASE_TTL_S",
        description="How long an ingest worker's camera leases and heartbeat last unrenewed "
        "(renewed every second): a dead worker's cameras move after about this long, and a "
        "worker cut off from Redis gives them up after half of it.",
    )
    analytics: bool = Field(
        default=True,
        validation_alias="SHARPEYE_ANALYTICS",
        description="Run live analytics in the ingest worker on the frames it decodes.",
    )
    sim_rtsp_port: int = Field(default=8554, validation_alias="SHARPEYE_SIM_RTSP_PORT")
    sim_onvif_port: int = Field(default=8000, validation_alias="SHARPEYE_SIM_ONVIF_PORT")
    receiver_port: int = Field(
        default=8090,
        validation_alias="SHARPEYE_RECEIVER_PORT",
        ge=1,
        le=65535,
        description="The demo duty receiver `sharpeye up` starts (simulated duty phones).",
    )

    @field_validator("node_id")
    @classmethod
    def node_id_or_host(cls, value: str) -> str:
        return value.strip() or socket.gethostname()

    @property
    def sqlite_url(self) -> str:
        return f"sqlite:///{(self.data_dir / 'sharpeye.db').resolve()}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or self.sqlite_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
