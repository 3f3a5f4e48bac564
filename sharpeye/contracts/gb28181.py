"""GB/T 28181 devices as the SIP service sees them, on Redis for `sharpeye gb28181 status`
and (later) the API: who is registered, when each was last heard, and its catalog.

Readers must judge staleness themselves (`GbDevice.effective_state`): if the SIP service
dies, its last "online" stays on Redis, but the keepalive it recorded ages and the device
reads offline after `keepalive_misses` intervals, as it would on a live service.
Never carries a password or a Digest answer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GbDeviceState = Literal["online", "offline", "unregistered"]
GbChannelKind = Literal[
    "camera", "alarm_input", "alarm_output", "device", "platform", "group", "civil"
]


class GbChannel(BaseModel):
    """One item of a device's catalog: a camera channel, or a group or civil code above."""

    model_config = ConfigDict(extra="forbid")

    channel_id: str
    device_id: str = Field(description="The registered device whose catalog listed it.")
    name: str = ""
    kind: GbChannelKind
    manufacturer: str = ""
    model: str = ""
    status: str = Field("", description="As the device reported it (ON/OFF).")
    parent_id: str = ""
    civil_code: str = ""
    address: str = ""
    longitude: float | None = None
    latitude: float | None = None
    updated_at: float = Field(description="Unix time of the catalog message that listed it.")


class GbDevice(BaseModel):
    """One device or lower platform allowed by the registry that has registered."""

    model_config = ConfigDict(extra="forbid")

    device_id: str
    name: str = ""
    state: GbDeviceState
    transport: Literal["UDP", "TCP"]
    address: str = Field(description="host:port its REGISTER came from (where we send).")
    registered_at: float = Field(description="Unix time of the first REGISTER of this session.")
    expires_at: float = Field(description="Unix time the registration lapses unrefreshed.")
    last_keepalive: float | None = Field(None, description="Unix time of the last keepalive.")
    keepalive_interval_s: float = Field(gt=0)
    keepalive_misses: int = Field(ge=1)
    catalog_sum: int | None = Field(None, description="SumNum of the last catalog answer.")
    catalog_received: int = Field(0, description="Items received of that catalog so far.")
    catalog_at: float | None = Field(None, description="Unix time of the last catalog item.")
    reason: str | None = Field(None, description="Why it is not online, in words.")
    updated_at: float

    def last_heard(self) -> float:
        return max(self.registered_at, self.last_keepalive or 0.0)

    def effective_state(self, now: float) -> GbDeviceState:
        """The state as of `now`: a device unheard for its misses, or past its registration,
        is offline even if the record (from a service that stopped) says online."""
        if self.state != "online":
            return self.state
        silent_for = now - self.last_heard()
        if silent_for > self.keepalive_interval_s * self.keepalive_misses or now > self.expires_at:
            return "offline"
        return "online"


GbMediaTransport = Literal["udp", "tcp"]


class GbPlayRequest(BaseModel):
    """A reader in another process (the ingest worker, the relay) asks the SIP service to
    INVITE a channel to where the reader receives (`op: play`), or to BYE its call
    (`op: stop`).

    The reader keeps its call alive by refreshing a lease (`lease_s`); a call whose lease
    lapses (a worker that died) is hung up by the service. A request still queued after
    `expires_at` is dropped: its reader has given up and will ask again.
    """

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    op: Literal["play", "stop"]
    node_id: str = Field(min_length=1, max_length=128, description="The asking node.")
    device_id: str
    channel_id: str
    transport: GbMediaTransport = "udp"
    host: str = Field("", description="play: where the reader receives RTP.")
    port: int = Field(0, ge=0, le=65535)
    timeout_s: float = Field(10.0, gt=0, le=60, description="play: how long to wait for the 200.")
    lease_s: float = Field(10.0, gt=0, le=300)
    call_id: str | None = Field(None, description="stop: the call to end.")
    expires_at: float = Field(description="Unix time after which the request is ignored.")


class GbPlayReply(BaseModel):
    """The SIP service's answer to a play request: what the device agreed, or why not (the
    error names the device and the channel)."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    ok: bool
    error: str | None = None
    call_id: str | None = None
    host: str = ""
    port: int = 0
    transport: GbMediaTransport = "udp"
    payload_type: int = 96
    ssrc: int | None = None
    setup: str | None = None
