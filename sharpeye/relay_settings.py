"""Relay settings (`SHARPEYE_RELAY_*`), apart from the shared Settings: a contract of two services.

The command API reads them too: it hands the wall the relay's public URL with each token.
"""

from __future__ import annotations

import hashlib
import zlib
from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]
# The command API's route that rechecks viewer tokens for the relay (command_api.routers.viewer).
RECHECK_PATH = "/api/cameras/viewer-tokens/check"
# What the relay's service token for that call says it is for (sharpeye.tokens).
RECHECK_PURPOSE = "relay.recheck"


class RelaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    host: str = Field(default="127.0.0.1", validation_alias="SHARPEYE_RELAY_HOST")
    port: int = Field(default=8889, ge=1, le=65535, validation_alias="SHARPEYE_RELAY_PORT")
    public_url: str | None = Field(
        default=None,
        validation_alias="SHARPEYE_RELAY_PUBLIC_URL",
        description="Base URL walls use for WHEP (behind a proxy); default http://host:port.",
    )
    idle_close_s: float = Field(
        default=10.0,
        ge=0.0,
        validation_alias="SHARPEYE_RELAY_IDLE_S",
        description="Seconds a camera's upstream stays open after its last viewer left.",
    )
    queue_frames: int = Field(
        default=100,
        ge=10,
        validation_alias="SHARPEYE_RELAY_QUEUE_FRAMES",
        description="Frames a viewer may fall behind before it skips to the next keyframe.",
    )
    connect_timeout_s: float = Field(
        default=30.0,
        gt=0.0,
        validation_alias="SHARPEYE_RELAY_CONNECT_TIMEOUT_S",
        description="A viewer whose connection is not up this long after its offer is dropped.",
    )
    max_sessions: int = Field(
        default=1000,
        ge=1,
        validation_alias="SHARPEYE_RELAY_MAX_SESSIONS",
        description="WHEP sessions this worker holds at most; beyond it offers get 503.",
    )
    consent_timeout_s: float = Field(
        default=30.0,
        ge=2.0,
        le=300.0,
        validation_alias="SHARPEYE_RELAY_CONSENT_TIMEOUT_S",
        description="A viewer that stops answering ICE consent checks this long (closed tab, "
        "lost network: no DELETE) is dropped; RFC 7675's 30 s by default.",
    )
    max_session_s: float = Field(
        default=12 * 3600.0,
        ge=1.0,
        le=7 * 86400.0,
        validation_alias="SHARPEYE_RELAY_MAX_SESSION_S",
        description="Longest a WHEP view lasts (12 h: a shift); then the relay closes it and "
        "the wall re-negotiates with a fresh viewer token, so a view stays only as long as "
        "the API keeps issuing tokens for it.",
    )
    recheck_s: float = Field(
        default=5.0,
        ge=0.2,
        le=60.0,
        validation_alias="SHARPEYE_RELAY_RECHECK_S",
        description="How often the relay asks the command API whether each playing viewer "
        "may still watch (session, user, department, grants); refused views close.",
    )
    api_url: str | None = Field(
        default=None,
        validation_alias="SHARPEYE_RELAY_API_URL",
        description="The command API the relay rechecks viewers with (internal URL, e.g. "
        "http://sharpeye-api:8080). Default: http://SHARPEYE_API_HOST:SHARPEYE_API_PORT, "
        "127.0.0.1 when the API binds every interface.",
    )
    gop_cache: bool = Field(
        default=True,
        validation_alias="SHARPEYE_RELAY_GOP_CACHE",
        description="Start late joiners from the cached GOP (off: they wait for a keyframe).",
    )
    ice_servers: CommaList = Field(
        default_factory=list,
        validation_alias="SHARPEYE_RELAY_ICE_SERVERS",
        description="STUN/TURN URLs, comma-separated; none by default (no public STUN).",
    )
    ice_username: str | None = Field(
        default=None,
        validation_alias="SHARPEYE_RELAY_ICE_USERNAME",
        description="User name for the TURN servers among ice_servers.",
    )
    ice_credential: str | None = Field(
        default=None,
        validation_alias="SHARPEYE_RELAY_ICE_CREDENTIAL",
        description="Credential for the TURN servers among ice_servers.",
        repr=False,
    )
    ice_addresses: CommaList = Field(
        default_factory=lambda: ["127.0.0.1"],
        validation_alias="SHARPEYE_RELAY_ICE_ADDRESSES",
        description="Local addresses offered as ICE host candidates, comma-separated; "
        "'auto' offers every interface. Default: loopback, like the API's default bind.",
    )
    announce_address: str | None = Field(
        default=None,
        validation_alias="SHARPEYE_RELAY_ANNOUNCE_ADDRESS",
        description="Address written into host candidates instead of the local one (1:1 NAT).",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        validation_alias="SHARPEYE_RELAY_WORKERS",
        description="Relay processes, one event loop each, on ports port..port+workers-1; "
        "cameras are shared out among them by id (one upstream per camera).",
    )
    worker: int = Field(
        default=0,
        ge=0,
        validation_alias="SHARPEYE_RELAY_WORKER",
        description="Which worker this process is (set by the first worker for the others).",
    )
    nodes: CommaList = Field(
        default_factory=list,
        validation_alias="SHARPEYE_RELAY_NODES",
        description="Base URLs of a city's relay nodes, comma-separated (each may hold "
        "`{worker}`); the API sends every wall watching a camera to the same node, so each "
        "camera has one upstream city-wide. Empty: this node's relay (public_url / host).",
    )
    allow_origins: CommaList | None = Field(
        default=None,
        validation_alias="SHARPEYE_RELAY_ALLOW_ORIGINS",
        description="Origins whose walls may call the relay (CORS), comma-separated; `*` "
        "only when set so. Default: the command API's own origin (SHARPEYE_API_HOST/PORT), "
        "the only page that hands out viewer tokens.",
    )

    @field_validator("ice_servers", "ice_addresses", "allow_origins", "nodes", mode="before")
    @classmethod
    def split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def cors_origins(self, api_host: str, api_port: int) -> list[str]:
        """The origins allowed to call the relay: as configured, else the API's own.

        A wall is served by the command API, so its origin is the API's URL; an API bound to
        every interface or to loopback is reached as 127.0.0.1 or localhost on this node
        (what `sharpeye up` prints). Behind a proxy, set SHARPEYE_RELAY_ALLOW_ORIGINS.
        """
        if self.allow_origins is not None:
            return list(self.allow_origins)
        if api_host in ("0.0.0.0", "::", "", "127.0.0.1", "localhost", "::1"):
            hosts = ["127.0.0.1", "localhost", "[::1]"]
        else:
            hosts = [f"[{api_host}]" if ":" in api_host else api_host]
        return [f"http://{h}:{api_port}" for h in hosts] + [
            f"https://{h}:{api_port}" for h in hosts
        ]

    def recheck_url(self, api_host: str, api_port: int) -> str:
        """Where the relay posts its viewers' tokens for the API to recheck."""
        base = self.api_url
        if not base:
            host = "127.0.0.1" if api_host in ("0.0.0.0", "", "::") else api_host
            base = f"http://{f'[{host}]' if ':' in host else host}:{api_port}"
        return base.rstrip("/") + RECHECK_PATH

    def ice_server_dicts(self) -> list[dict[str, str]]:
        """ICE servers as RTCConfiguration wants them (browser and aiortc alike)."""
        out = []
        for url in self.ice_servers:
            entry = {"urls": url}
            if url.startswith(("turn:", "turns:")) and self.ice_username:
                entry["username"] = self.ice_username
                entry["credential"] = self.ice_credential or ""
            out.append(entry)
        return out

    def shard(self, camera_id: str) -> int:
        """The worker that serves a camera: stable across processes (crc32, not hash())."""
        return zlib.crc32(camera_id.encode("utf-8")) % self.workers

    def node(self, camera_id: str) -> str | None:
        """The relay node that serves a camera, by rendezvous hashing: stable across API
        replicas, and adding or removing a node moves only the cameras it gains or loses
        (about 1/N of them) instead of reshuffling the city."""
        if not self.nodes:
            return None

        def weight(node: str) -> bytes:
            return hashlib.blake2b(f"{node}\n{camera_id}".encode(), digest_size=8).digest()

        return max(self.nodes, key=weight)

    def base_url(self, worker: int = 0, node: str | None = None) -> str:
        """A worker's URL. SHARPEYE_RELAY_PUBLIC_URL (or a node's URL) may contain `{worker}`
        (behind a proxy: https://wall.example/relay/{worker}) or `{port}` (reached directly:
        http://10.0.0.11:{port}, the worker's own port) to route each worker's share."""
        template = node or self.public_url
        if template:
            url = template.replace("{worker}", str(worker))
            return url.replace("{port}", str(self.port + worker)).rstrip("/")
        return f"http://{self.host}:{self.port + worker}"

    def whep_url(self, camera_id: str, stream: str) -> str:
        base = self.base_url(self.shard(camera_id), self.node(camera_id))
        return f"{base}/whep/{camera_id}/{stream}"


@lru_cache(maxsize=1)
def get_relay_settings() -> RelaySettings:
    return RelaySettings()
