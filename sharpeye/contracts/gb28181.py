"""GB/T 28181 devices as the SIP service sees them, on Redis for `sharpeye gb28181 status`
and the API (`/api/gb28181/devices`): who is registered, when each was last heard, its
catalog, what it says it is (DeviceInfo) and how it is doing (DeviceStatus), and the calls
open on its channels.

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


class GbDeviceInfo(BaseModel):
    """A device's last answer to the DeviceInfo query: what it says it is."""

    model_config = ConfigDict(extra="forbid")

    device_id: str
    result: Literal["OK", "ERROR"] = Field(description="ERROR: the device could not say.")
    device_name: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    channels: int | None = Field(None, ge=0, description="Channel count it reports.")
    received_at: float = Field(description="Unix time the answer arrived.")


class GbAlarmDuty(BaseModel):
    """One alarm input of a DeviceStatus answer."""

    model_config = ConfigDict(extra="forbid")

    alarm_id: str = Field(description="The alarm input's 20-digit ID.")
    duty: Literal["ONDUTY", "OFFDUTY", "ALARM"] = Field(
        description="Armed, disarmed, or alarming now."
    )


class GbDeviceStatus(BaseModel):
    """A device's last answer to the DeviceStatus query: how it says it is doing."""

    model_config = ConfigDict(extra="forbid")

    device_id: str
    result: Literal["OK", "ERROR"]
    online: bool | None = Field(None, description="Online as the device reports it.")
    status_ok: bool | None = Field(None, description="Status OK (False: ERROR).")
    reason: str = Field("", description="Why not OK, in the device's words.")
    encode: bool | None = Field(None, description="Encoding on.")
    record: bool | None = Field(None, description="Recording on (on the device).")
    device_time: str = Field("", description="The device's clock, as it wrote it.")
    alarms: list[GbAlarmDuty] = Field(default_factory=list)
    received_at: float = Field(description="Unix time the answer arrived.")


GbMediaTransport = Literal["udp", "tcp"]
GbCallRole = Literal["ingest", "relay"]


class GbCall(BaseModel):
    """A call (a stream) the SIP service holds on a reader's behalf: which channel, who
    reads it, since when. Live while the reader's lease (`sharpeye.bus.gb28181.lease_key`)
    is; a record whose lease is gone is a leftover of a service that stopped."""

    model_config = ConfigDict(extra="forbid")

    call_id: str
    device_id: str
    channel_id: str
    node_id: str = Field(description="The reader's node (the ingest worker or relay).")
    role: GbCallRole = Field(description="What reads it: ingest (analytics) or the relay.")
    transport: GbMediaTransport
    since: float = Field(description="Unix time the device accepted the INVITE.")


class GbDeviceQuery(BaseModel):
    """Ask the SIP service to query a device's DeviceInfo and DeviceStatus now (the API's
    on-demand refresh); dropped if still queued after `expires_at`."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=r"^[0-9]{20}$")
    asked_by: str = Field(max_length=200, description="Who asked (for the service's log).")
    expires_at: float


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
    role: GbCallRole = Field("ingest", description="What the asking node is.")
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
