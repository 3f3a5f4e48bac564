"""DeviceInfo and DeviceStatus: the service asks a device what it is and how it is doing
after it registers, when it comes back online, and on demand (the API queues a request on
Redis, `sharpeye.bus.gb28181.ask_device_query`), and stores each answer on Redis.

The two queries go one after the other, each waiting for the device's 200 (an NVR still
sending its catalog copes with one request at a time better than with three at once); the
Response MESSAGEs come afterwards and are matched to the query by SN. An answer no query
of ours is waiting for (an SN we did not send: a late answer to an earlier query, or a
confused device) is answered 200 and dropped with a log line: refusing it would only make
the device send it again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Literal, Protocol

import redis
import redis.asyncio

from camera.gb28181.device_info import (
    DeviceInfoResponse,
    DeviceStatusResponse,
    device_info_query,
    device_status_query,
)
from camera.gb28181.manscdp_xml import CONTENT_TYPE
from camera.gb28181.sip_headers import SipUri
from camera.gb28181.sip_message import SipResponse
from camera.gb28181.transport import Peer, SipEndpoint, SipSendError, SipTimeoutError, new_tag
from sharpeye.bus.gb28181 import take_device_queries, write_device_info, write_device_status
from sharpeye.contracts.gb28181 import GbAlarmDuty, GbDeviceInfo, GbDeviceStatus
from sharpeye.registry.gb28181 import Gb28181Config

log = logging.getLogger(__name__)

Kind = Literal["DeviceInfo", "DeviceStatus"]
QUERIES_PER_SWEEP = 50  # on-demand requests taken per sweep: a flood waits its turn
_REDIS_DOWN = (redis.RedisError, OSError)


class Queried(Protocol):
    """What a query needs of a device's session (`service.DeviceSession`)."""

    device_id: str
    peer: Peer
    online: bool
    details_wanted: bool
    details_sent: float


async def send_query(
    endpoint: SipEndpoint, config: Gb28181Config, device: Queried, body: bytes
) -> SipResponse:
    """One MANSCDP Query MESSAGE to `device`, out of any dialog, as GB/T 28181 sends them;
    its final response (SipTimeoutError / SipSendError when none)."""
    domain = config.domain
    headers = [
        ("From", f"<sip:{config.platform_id}@{domain}>;tag={new_tag()}"),
        ("To", f"<sip:{device.device_id}@{domain}>"),
        ("Call-ID", f"{os.urandom(10).hex()}@{config.platform_id}"),
        ("Content-Type", CONTENT_TYPE),
    ]
    uri = SipUri(device.device_id, device.peer.host, device.peer.port)
    return await endpoint.request("MESSAGE", uri, device.peer, headers, body)


class DeviceQueries:
    """The DeviceInfo/DeviceStatus queries a service has out, and their answers."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        config: Gb28181Config,
        redis_client: redis.asyncio.Redis | None,
        next_sn: Callable[[], int],
        clock: Callable[[], float],
    ) -> None:
        self.endpoint = endpoint
        self.config = config
        self.redis = redis_client
        self.next_sn = next_sn
        self.clock = clock
        # (device, kind) -> the SN its answer must carry; one per device and kind, so
        # bounded by the devices registered.
        self.pending: dict[tuple[str, Kind], int] = {}

    async def ask(self, device: Queried) -> None:
        """DeviceInfo, then DeviceStatus; a query the device does not accept (no answer, or
        not 200) leaves the device wanting them, to be asked again at a later keepalive."""
        device.details_wanted = False
        device.details_sent = self.clock()
        asks: tuple[tuple[Kind, Callable[[int, str], bytes]], ...] = (
            ("DeviceInfo", device_info_query),
            ("DeviceStatus", device_status_query),
        )
        for kind, build in asks:
            sn = self.next_sn()
            self.pending[(device.device_id, kind)] = sn
            try:
                response = await send_query(
                    self.endpoint, self.config, device, build(sn, device.device_id)
                )
            except (SipTimeoutError, SipSendError) as exc:
                log.warning("gb28181: %s query to %s failed: %s", kind, device.device_id, exc)
                device.details_wanted = True
                return
            if response.status != 200:
                log.warning(
                    "gb28181: device %s answered the %s query %d %s",
                    device.device_id,
                    kind,
                    response.status,
                    response.reason,
                )
                device.details_wanted = True
                return

    def _expected(self, device_id: str, kind: Kind, sn: int) -> bool:
        if self.pending.get((device_id, kind)) != sn:
            log.info(
                "gb28181: device %s sent a %s answer (SN %d) no query is waiting for; dropped",
                device_id,
                kind,
                sn,
            )
            return False
        del self.pending[(device_id, kind)]
        return True

    async def on_info(self, answer: DeviceInfoResponse) -> None:
        if not self._expected(answer.device_id, "DeviceInfo", answer.sn):
            return
        info = GbDeviceInfo(
            device_id=answer.device_id,
            result=answer.result,
            device_name=answer.device_name,
            manufacturer=answer.manufacturer,
            model=answer.model,
            firmware=answer.firmware,
            channels=answer.channels,
            received_at=self.clock(),
        )
        log.info(
            "gb28181: device %s is %s %s, firmware %s, %s channels",
            answer.device_id,
            info.manufacturer or "?",
            info.model or "?",
            info.firmware or "?",
            "?" if info.channels is None else info.channels,
        )
        await self._store(info)

    async def on_status(self, answer: DeviceStatusResponse) -> None:
        if not self._expected(answer.device_id, "DeviceStatus", answer.sn):
            return
        status = GbDeviceStatus(
            device_id=answer.device_id,
            result=answer.result,
            online=answer.online,
            status_ok=answer.status_ok,
            reason=answer.reason,
            encode=answer.encode,
            record=answer.record,
            device_time=answer.device_time,
            alarms=[GbAlarmDuty(alarm_id=a.device_id, duty=a.duty) for a in answer.alarms],
            received_at=self.clock(),
        )
        await self._store(status)

    async def _store(self, answer: GbDeviceInfo | GbDeviceStatus) -> None:
        if self.redis is None:
            return
        try:
            if isinstance(answer, GbDeviceInfo):
                await write_device_info(self.redis, answer)
            else:
                await write_device_status(self.redis, answer)
        except _REDIS_DOWN as exc:
            log.warning("gb28181: cannot store %s's answer on Redis: %s", answer.device_id, exc)

    def forget(self, device_id: str) -> None:
        """The device is gone: answers still owed are no longer waited for."""
        self.pending.pop((device_id, "DeviceInfo"), None)
        self.pending.pop((device_id, "DeviceStatus"), None)

    async def take_requests(self, sessions: Mapping[str, Queried]) -> list[Queried]:
        """The registered, online devices someone asked about on Redis since the last
        sweep, marked as wanting their queries (the caller sends them)."""
        if self.redis is None:
            return []
        try:
            requests = await take_device_queries(self.redis, QUERIES_PER_SWEEP)
        except _REDIS_DOWN as exc:
            log.warning("gb28181: device queries unreadable (Redis: %s)", exc)
            return []
        out: list[Queried] = []
        for request in requests:
            device = sessions.get(request.device_id)
            if device is None or not device.online:
                log.info(
                    "gb28181: %s asked about device %s, which is not registered and online",
                    request.asked_by[:60],
                    request.device_id,
                )
                continue
            device.details_wanted = True
            if device not in out:
                out.append(device)
        return out
