"""The GB/T 28181 registrar: REGISTER with Digest, keepalives, the catalog, DeviceInfo and
DeviceStatus queries and their answers, and the sweep that marks silent devices offline.
State goes to Redis on every change; a Redis outage is logged and SIP keeps being served
from memory.

Per request: REGISTER (`register.py` decides who may) answers 401/403/200; MESSAGE from a
registered device carries MANSCDP: a Keepalive refreshes it, a Catalog response adds to its
catalog, a DeviceInfo/DeviceStatus response is stored (`device_query.py`), anything else is
answered 200 and logged (Alarm: a later slice). A malformed body is a 400 and a log line
naming the device and the reason; nothing a device sends stops the service for the others.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

from camera.gb28181 import manscdp
from camera.gb28181.digest import NonceIssuer, challenge, parse_authorization
from camera.gb28181.sip_headers import SipParseError, SipUri, parse_name_addr
from camera.gb28181.sip_message import SipRequest, SipResponse, response_to
from camera.gb28181.transport import (
    Peer,
    SipEndpoint,
    SipSendError,
    SipTimeoutError,
    Transport,
    new_tag,
)
from ingest.gb28181.catalog import CatalogAssembly, channel_of
from ingest.gb28181.device_query import DeviceQueries, send_query
from ingest.gb28181.play import Player
from ingest.gb28181.register import (
    Refusal,
    check_addressing,
    check_answer,
    requested_expires,
)
from sharpeye.bus.gb28181 import read_devices, write_channels, write_device
from sharpeye.contracts.gb28181 import GbDevice, GbDeviceState
from sharpeye.registry.gb28181 import Gb28181Config

log = logging.getLogger(__name__)

# A catalog whose parts stop coming is kept as far as it got after this long.
CATALOG_TIMEOUT_S = 30.0
# One line per device and reason per minute: a misconfigured device retries every few s.
_REFUSAL_LOG_EVERY_S = 60.0
_REDIS_DOWN = (redis.RedisError, OSError)


@dataclass
class DeviceSession:
    device_id: str
    peer: Peer
    contact: SipUri
    registered_at: float
    expires_at: float
    last_keepalive: float | None = None
    online: bool = True
    reason: str | None = None
    catalog: CatalogAssembly | None = None
    catalog_wanted: bool = True  # query (again) at the next chance
    catalog_sent: float = 0.0
    catalog_sum: int | None = None
    catalog_received: int = 0
    catalog_at: float | None = None
    details_wanted: bool = True  # DeviceInfo and DeviceStatus (again) at the next chance
    details_sent: float = 0.0

    def last_heard(self) -> float:
        return max(self.registered_at, self.last_keepalive or 0.0)


class Gb28181Service:
    def __init__(
        self,
        config: Gb28181Config,
        redis_client: redis.asyncio.Redis | None,
        *,
        secrets_file: Path | None = None,
        clock: Callable[[], float] = time.time,
        timer_f: float = 32.0,
    ) -> None:
        self.config = config
        self._redis = redis_client
        self._secrets_file = secrets_file
        self._clock = clock
        self.nonces = NonceIssuer()
        transports: list[Transport] = [
            "UDP" if t == "udp" else "TCP" for t in config.listen.transports
        ]
        self.endpoint = SipEndpoint(
            config.listen.host,
            config.listen.port,
            self.handle,
            transports=transports,
            timer_f=timer_f,
        )
        self.sessions: dict[str, DeviceSession] = {}
        self._sn = itertools.count(int(clock()) % 100_000)
        self.queries = DeviceQueries(self.endpoint, config, redis_client, self._next_sn, clock)
        self._logged: dict[tuple[str, str], float] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.player = Player(self)  # live video: INVITE/BYE on readers' behalf

    @property
    def port(self) -> int:
        return self.endpoint.bound_port

    async def start(self) -> None:
        await self._restore()
        await self.endpoint.start()
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        await self.player.stop_all()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(
            *self._tasks, *([self._sweeper] if self._sweeper else []), return_exceptions=True
        )
        await self.endpoint.stop()

    def _next_sn(self) -> int:
        return next(self._sn)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- requests ---------------------------------------------------------------------------

    async def handle(self, request: SipRequest, peer: Peer) -> SipResponse:
        try:
            if request.method == "REGISTER":
                return await self._register(request, peer)
            if request.method == "MESSAGE":
                return await self._message(request, peer)
            if request.method == "BYE":
                return self.player.on_bye(request)
            if request.method == "OPTIONS":
                return response_to(request, 200, to_tag=new_tag(), headers=[_ALLOW])
        except SipParseError as exc:
            # A header the handler needed (Expires, Authorization...) is unreadable.
            self._log_refusal(peer, str(request.from_.uri.user), str(exc))
            return response_to(request, 400, to_tag=new_tag(), headers=[_warning(str(exc))])
        return response_to(request, 405, to_tag=new_tag(), headers=[_ALLOW])

    async def _register(self, request: SipRequest, peer: Peer) -> SipResponse:
        checked = check_addressing(request, self.config)
        if isinstance(checked, Refusal):
            return self._refuse(request, peer, request.from_.uri.user or "?", checked)
        device_id = checked
        expires = requested_expires(request)
        value = request.get("Authorization")
        if value is None:
            header = ("WWW-Authenticate", challenge(self.config.realm, self.nonces.issue()))
            return response_to(request, 401, to_tag=new_tag(), headers=[header])
        answer = parse_authorization(value)
        refusal = check_answer(
            request, answer, device_id, self.config, self.nonces, self._secrets_file
        )
        if refusal is not None:
            return self._refuse(request, peer, device_id, refusal)
        now = self._clock()
        if expires == 0:
            await self._unregister(device_id, "unregistered by the device (Expires: 0)")
            return response_to(request, 200, to_tag=new_tag(), headers=[("Expires", "0")])
        granted = min(expires, self.config.register_expires_max_s)
        contact = self._contact(request, device_id, peer)
        session = self.sessions.get(device_id)
        if session is None or session.expires_at < now:
            session = DeviceSession(device_id, peer, contact, now, now + granted)
            self.sessions[device_id] = session
            log.info("gb28181: device %s registered from %s for %d s", device_id, peer, granted)
        else:  # a refresh: the same session, maybe from a new address
            session.peer, session.contact, session.expires_at = peer, contact, now + granted
        if not session.online:
            session.online, session.reason = True, None
        await self._store(session, announce=True)
        if session.catalog_wanted or session.details_wanted:
            self._spawn(self._query(session))
        headers = [
            ("Contact", f"<{contact}>;expires={granted}"),
            ("Expires", str(granted)),
            # GB/T 28181 devices set their clocks from this (local time, milliseconds).
            ("Date", datetime.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:23]),
        ]
        return response_to(request, 200, to_tag=new_tag(), headers=headers)

    def _contact(self, request: SipRequest, device_id: str, peer: Peer) -> SipUri:
        contacts = request.get_all("Contact")
        if len(contacts) == 1 and contacts[0] != "*":
            return parse_name_addr(contacts[0], "Contact").uri
        return SipUri(device_id, peer.host, peer.port)

    async def _unregister(self, device_id: str, reason: str) -> None:
        session = self.sessions.pop(device_id, None)
        log.info("gb28181: device %s %s", device_id, reason)
        self.player.drop_device(device_id, reason)
        self.queries.forget(device_id)
        if session is not None:
            session.online, session.reason = False, reason
            await self._store(session, announce=True, state="unregistered")

    async def _message(self, request: SipRequest, peer: Peer) -> SipResponse:
        device_id = request.from_.uri.user or "?"
        session = self.sessions.get(device_id)
        if session is None:
            known = self.config.password_of(device_id) is not None
            why = "not registered" if known else "not in the registry's gb28181 devices"
            return self._refuse(request, peer, device_id, Refusal(403, f"device {why}"))
        if peer.host != session.peer.host:
            why = f"comes from {peer.host}, the device registered from {session.peer.host}"
            public = "not from the address the device registered from"
            return self._refuse(request, peer, device_id, Refusal(403, why, public=public))
        content_type = (request.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != manscdp.CONTENT_TYPE.lower():
            why = f"Content-Type {content_type[:40]!r} is not {manscdp.CONTENT_TYPE}"
            return self._refuse(request, peer, device_id, Refusal(415, why))
        try:
            body = manscdp.parse(request.body)
        except manscdp.ManscdpError as exc:
            return self._refuse(request, peer, device_id, Refusal(400, f"malformed MANSCDP: {exc}"))
        session.peer = peer  # a TCP device reconnects from a new port
        now = self._clock()
        if isinstance(body, _ABOUT_ITSELF) and body.device_id != device_id:
            what = "keepalive" if isinstance(body, manscdp.Keepalive) else body_name(body)
            why = f"{what} names device {body.device_id}"
            return self._refuse(request, peer, device_id, Refusal(400, why))
        if isinstance(body, manscdp.Keepalive):
            await self._keepalive(session, now)
        elif isinstance(body, manscdp.CatalogResponse):
            await self._catalog_part(session, body, now)
        elif isinstance(body, manscdp.DeviceInfoResponse):
            await self.queries.on_info(body)
        elif isinstance(body, manscdp.DeviceStatusResponse):
            await self.queries.on_status(body)
        else:
            log.info(
                "gb28181: device %s sent %s %s (not handled yet), answered 200",
                device_id,
                body.root,
                body.cmd_type,
            )
        return response_to(request, 200, to_tag=new_tag())

    async def _keepalive(self, session: DeviceSession, now: float) -> None:
        session.last_keepalive = now
        changed = not session.online
        if changed:
            session.online, session.reason = True, None
            log.info("gb28181: device %s online again", session.device_id)
        await self._store(session, announce=changed)
        # A query that failed (or a catalog that stalled) is tried again, at most once per
        # keepalive interval.
        retry_after = self.config.keepalive_interval_s
        catalog_due = session.catalog_wanted and now - session.catalog_sent > retry_after
        details_due = session.details_wanted and now - session.details_sent > retry_after
        if catalog_due or details_due:
            self._spawn(self._query(session))

    # --- the catalog ------------------------------------------------------------------------

    async def _query(self, session: DeviceSession) -> None:
        """The catalog, then DeviceInfo and DeviceStatus: one request at a time."""
        if session.catalog_wanted:
            await self._query_catalog(session)
        if session.details_wanted and session.online:
            await self.queries.ask(session)

    async def _query_catalog(self, session: DeviceSession) -> None:
        session.catalog_wanted = False
        session.catalog_sent = self._clock()
        sn = next(self._sn)
        body = manscdp.catalog_query(sn, session.device_id)
        try:
            response = await send_query(self.endpoint, self.config, session, body)
        except (SipTimeoutError, SipSendError) as exc:
            log.warning("gb28181: catalog query to %s failed: %s", session.device_id, exc)
            session.catalog_wanted = True
            return
        if response.status != 200:
            log.warning(
                "gb28181: device %s answered the catalog query %d %s",
                session.device_id,
                response.status,
                response.reason,
            )
            session.catalog_wanted = True
            return
        log.info("gb28181: catalog query SN %d accepted by %s", sn, session.device_id)

    async def _catalog_part(
        self, session: DeviceSession, part: manscdp.CatalogResponse, now: float
    ) -> None:
        assembly = session.catalog
        if assembly is None or assembly.sn != part.sn:
            if assembly is not None and not assembly.complete:
                self._catalog_incomplete(session, assembly)
            assembly = CatalogAssembly(session.device_id, part.sn, part.sum_num, now)
            session.catalog = assembly
        items = assembly.add(part)
        session.catalog_sum, session.catalog_received = assembly.sum_num, len(assembly.items)
        session.catalog_at = now
        channels = [channel_of(item, session.device_id, now) for item in items]
        keep = assembly.items.keys() if assembly.complete else None
        try:
            if self._redis is not None:
                await write_channels(self._redis, session.device_id, channels, keep_only=keep)
        except _REDIS_DOWN as exc:
            log.warning("gb28181: cannot store %s's catalog on Redis: %s", session.device_id, exc)
        if assembly.complete:
            log.info(
                "gb28181: catalog of %s: %d items (SN %d)",
                session.device_id,
                len(assembly.items),
                part.sn,
            )
            session.catalog = None
        await self._store(session)

    def _catalog_incomplete(self, session: DeviceSession, assembly: CatalogAssembly) -> None:
        log.warning(
            "gb28181: catalog of %s stopped at %d of %d items (SN %d); keeping what came",
            session.device_id,
            len(assembly.items),
            assembly.sum_num,
            assembly.sn,
        )
        session.catalog_wanted = True

    # --- time -------------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        period = min(1.0, self.config.keepalive_interval_s / 4)
        while True:
            await asyncio.sleep(period)
            try:
                await self.sweep()
                for asked in await self.queries.take_requests(self.sessions):
                    self._spawn(self.queries.ask(asked))
            except Exception:
                log.exception("gb28181: sweep failed")

    async def sweep(self) -> None:
        """Offline after `keepalive_misses` silent intervals; unregistered when the
        registration lapses; stalled catalogs given up."""
        now = self._clock()
        silence = self.config.keepalive_interval_s * self.config.keepalive_misses
        for session in list(self.sessions.values()):
            if now > session.expires_at:
                await self._unregister(session.device_id, "registration expired")
                continue
            quiet = now - session.last_heard()
            if session.online and quiet > silence:
                session.online = False
                session.reason = (
                    f"no keepalive for {quiet:.0f} s ({self.config.keepalive_misses} missed)"
                )
                log.warning("gb28181: device %s offline: %s", session.device_id, session.reason)
                await self._store(session, announce=True)
            assembly = session.catalog
            if assembly is not None and now - assembly.started > CATALOG_TIMEOUT_S:
                self._catalog_incomplete(session, assembly)
                session.catalog = None

    # --- state ------------------------------------------------------------------------------

    def record(self, session: DeviceSession, state: GbDeviceState | None = None) -> GbDevice:
        name = self.config.devices_by_id[session.device_id].name
        return GbDevice(
            device_id=session.device_id,
            name=name,
            state=state or ("online" if session.online else "offline"),
            transport=session.peer.transport,
            address=f"{session.peer.host}:{session.peer.port}",
            registered_at=session.registered_at,
            expires_at=session.expires_at,
            last_keepalive=session.last_keepalive,
            keepalive_interval_s=self.config.keepalive_interval_s,
            keepalive_misses=self.config.keepalive_misses,
            catalog_sum=session.catalog_sum,
            catalog_received=session.catalog_received,
            catalog_at=session.catalog_at,
            reason=session.reason,
            updated_at=self._clock(),
        )

    async def _store(
        self, session: DeviceSession, *, announce: bool = False, state: GbDeviceState | None = None
    ) -> None:
        if self._redis is None:
            return
        try:
            await write_device(self._redis, self.record(session, state), announce=announce)
        except _REDIS_DOWN as exc:
            self._log_once(session.device_id, "redis", f"cannot store device state: {exc}")

    async def _restore(self) -> None:
        """Take back the registrations a previous run stored that have not lapsed, so
        devices keep alive across a restart without registering again."""
        if self._redis is None:
            return
        try:
            stored = await read_devices(self._redis)
        except _REDIS_DOWN as exc:
            log.warning("gb28181: no stored registrations (Redis: %s)", exc)
            return
        now = self._clock()
        for device in stored.values():
            if device.state == "unregistered" or device.expires_at < now:
                continue
            if device.device_id not in self.config.devices_by_id:
                continue  # removed from the registry since
            host, _, port = device.address.rpartition(":")
            peer = Peer(device.transport, host, int(port))
            self.sessions[device.device_id] = DeviceSession(
                device.device_id,
                peer,
                SipUri(device.device_id, host, int(port)),
                device.registered_at,
                device.expires_at,
                device.last_keepalive,
                online=device.state == "online",
                reason=device.reason,
                catalog_wanted=False,
                details_wanted=False,  # its answers are still on Redis
                catalog_sum=device.catalog_sum,
                catalog_received=device.catalog_received,
                catalog_at=device.catalog_at,
            )
        if self.sessions:
            log.info("gb28181: %d registrations restored from Redis", len(self.sessions))

    # --- refusals ---------------------------------------------------------------------------

    def _refuse(
        self, request: SipRequest, peer: Peer, device_id: str, refusal: Refusal
    ) -> SipResponse:
        self._log_once(
            device_id,
            refusal.reason,
            f"{request.method} from {peer} refused {refusal.status}: {refusal.reason}",
        )
        # A 401 is a normal step (a fresh challenge), not worth a Warning.
        warning = [_warning(refusal.warning)] if refusal.status != 401 else []
        headers = [*refusal.headers, *warning]
        return response_to(request, refusal.status, to_tag=new_tag(), headers=headers)

    def _log_refusal(self, peer: Peer, device_id: str, reason: str) -> None:
        self._log_once(device_id, reason, f"request from {peer} refused 400: {reason}")

    def _log_once(self, device_id: str, reason: str, text: str) -> None:
        now = time.monotonic()
        key = (device_id[:24], reason[:80])
        if now - self._logged.get(key, -_REFUSAL_LOG_EVERY_S) < _REFUSAL_LOG_EVERY_S:
            return
        if len(self._logged) > 10_000:  # bounded: forget the oldest half
            for old in sorted(self._logged, key=self._logged.__getitem__)[:5_000]:
                del self._logged[old]
        self._logged[key] = now
        log.warning("gb28181: device %s: %s", device_id[:24], text)


_ALLOW = ("Allow", "REGISTER, MESSAGE, BYE, OPTIONS")
# Bodies that speak of the device sending them: their DeviceID must be its own.
_ABOUT_ITSELF = (manscdp.Keepalive, manscdp.DeviceInfoResponse, manscdp.DeviceStatusResponse)


def body_name(body: manscdp.DeviceInfoResponse | manscdp.DeviceStatusResponse) -> str:
    return "DeviceInfo" if isinstance(body, manscdp.DeviceInfoResponse) else "DeviceStatus"


def _warning(reason: str) -> tuple[str, str]:
    return ("Warning", '399 sharpeye "{}"'.format(reason.replace('"', "'")[:200]))
