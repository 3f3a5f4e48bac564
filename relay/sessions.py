"""WHEP sessions: one aiortc peer connection per viewer, upstreams shared per camera stream.

`SessionManager.create` answers an SDP offer with H.264 only (passthrough: whatever the
camera encodes is what the browser decodes), on a sendonly video track fed by the camera's
shared upstream. A session ends on DELETE, when its peer connection fails or closes (a viewer
that vanished without DELETE fails its ICE consent checks), when it never connects, when it
reaches `max_session_s`, when the API no longer allows its viewer (`relay.recheck`), or when
the relay stops; ending it releases everything it held (its queue, its sender's history, its
peer connection, its timers and token), and its upstream closes after `idle_close_s` without
viewers.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from relay import packer, rtp_out
from relay.counters import RelayCounters
from relay.gb_pull import GbAccess
from relay.ice import announce, filter_remote_candidates, loopback_only
from relay.sources import SourceSpec, UpstreamKey
from relay.track import ViewerTrack
from relay.upstream import Upstream
from sharpeye.relay_settings import RelaySettings
from sharpeye.tokens import ViewerClaims

log = logging.getLogger(__name__)


class OfferError(Exception):
    """The viewer's offer cannot be answered (no video, no H.264); safe to show."""


class CapacityError(Exception):
    """This worker holds `max_sessions` viewers already; safe to show."""


@dataclass
class WhepSession:
    id: str
    camera_id: str
    stream: str
    department: str
    pc: RTCPeerConnection
    track: ViewerTrack
    upstream: Upstream
    lean: rtp_out.LeanSender | None = None
    connect_timer: asyncio.TimerHandle | None = None
    created_at: float = field(default_factory=time.monotonic)
    # The viewer token it was opened with, which the API rechecks (never logged or shown).
    token: str | None = field(default=None, repr=False)
    claims: ViewerClaims | None = None
    # Ends the view at `max_session_s`.
    length_timer: asyncio.TimerHandle | None = None


class UpstreamPool:
    """The open upstreams, one per (camera, stream kind, URL)."""

    def __init__(
        self,
        settings: RelaySettings,
        counters: RelayCounters | None = None,
        gb: GbAccess | None = None,
    ) -> None:
        self.settings = settings
        self.counters = counters or RelayCounters()
        self.gb = gb
        self.upstreams: dict[UpstreamKey, Upstream] = {}

    def get(self, spec: SourceSpec) -> Upstream:
        upstream = self.upstreams.get(spec.key)
        if upstream is None or upstream.closed:
            upstream = Upstream(
                spec,
                self.settings.idle_close_s,
                self._closed,
                gop_cache=self.settings.gop_cache,
                counters=self.counters,
                gb=self.gb,
            )
            self.upstreams[spec.key] = upstream
            upstream.start()
        return upstream

    def _closed(self, upstream: Upstream) -> None:
        if self.upstreams.get(upstream.spec.key) is upstream:
            del self.upstreams[upstream.spec.key]

    async def close(self) -> None:
        await asyncio.gather(*(u.close() for u in list(self.upstreams.values())))


def _h264_preferences() -> list[object]:
    return [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]


class SessionManager:
    def __init__(
        self,
        settings: RelaySettings,
        pool: UpstreamPool | None = None,
        gb: GbAccess | None = None,
    ) -> None:
        self.settings = settings
        self.counters = pool.counters if pool is not None else RelayCounters()
        self.pool = pool or UpstreamPool(settings, self.counters, gb)
        self.sessions: dict[str, WhepSession] = {}
        self._ice_servers = [
            RTCIceServer(urls=d["urls"], username=d.get("username"), credential=d.get("credential"))
            for d in settings.ice_server_dicts()
        ]
        self._loopback_only = loopback_only(settings.ice_addresses)
        self.on_end: Callable[[WhepSession], None] | None = None
        # Tasks started from callbacks, held until done (the loop keeps only weak references).
        self._tasks: set[asyncio.Task[bool]] = set()
        self._pending = 0

    async def create(
        self,
        spec: SourceSpec,
        department: str,
        offer_sdp: str,
        *,
        token: str | None = None,
        claims: ViewerClaims | None = None,
    ) -> tuple[WhepSession, str]:
        """A new session and its answer SDP. Raises UpstreamError or OfferError.

        `token` and its `claims`: what the viewer was let in with, kept for the recheck."""
        if "m=video" not in offer_sdp:
            raise OfferError("the offer has no video section")
        # Offers still negotiating count too: a burst of them cannot overshoot the cap.
        if len(self.sessions) + self._pending >= self.settings.max_sessions:
            raise CapacityError(f"this relay worker holds {len(self.sessions)} viewers already")
        upstream = self.pool.get(spec)
        upstream.acquire()
        self._pending += 1
        try:
            await upstream.ready()
            pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers))
            track = ViewerTrack(upstream, self.settings.queue_frames)
            session = WhepSession(
                secrets.token_urlsafe(16),
                spec.camera_id,
                spec.stream,
                department,
                pc,
                track,
                upstream,
                token=token,
                claims=claims,
            )
            try:
                answer, session.lean = await self._negotiate(pc, track, offer_sdp)
            except BaseException:
                track.stop()
                await pc.close()
                raise
        except BaseException:
            upstream.release()
            raise
        finally:
            self._pending -= 1
        self.sessions[session.id] = session
        self.counters.sessions_started += 1
        sid = session.id

        # The handlers hold the id, not the session: nothing here keeps an ended one alive.
        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            if state in ("failed", "closed"):
                await self.end(sid, state)

        # A viewer that posted an offer and vanished (tab closed before ICE finished) would
        # hold the camera's upstream open for ever: give it a deadline to connect.
        def check_connected() -> None:
            live = self.sessions.get(sid)
            if live is not None and live.pc.connectionState != "connected":
                log.info("viewer %s never connected; dropping it", sid[:8])
                self.end_soon(sid, "never_connected")

        # However often its token is rechecked, a view has a maximum length: at its end the
        # wall asks the API for a fresh token, so the API decides again who watches.
        def reached_max_length() -> None:
            if sid in self.sessions:
                log.info(
                    "viewer %s reached the maximum session length (%.0f s); closing it",
                    sid[:8],
                    self.settings.max_session_s,
                )
                self.end_soon(sid, "max_length")

        loop = asyncio.get_running_loop()
        session.connect_timer = loop.call_later(self.settings.connect_timeout_s, check_connected)
        session.length_timer = loop.call_later(self.settings.max_session_s, reached_max_length)

        log.info("viewer %s: %s/%s (%s)", session.id[:8], spec.camera_id, spec.stream, department)
        return session, answer

    def end_soon(self, session_id: str, reason: str) -> None:
        """`end` from a callback: the task is held until done."""
        task = asyncio.get_running_loop().create_task(self.end(session_id, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _negotiate(
        self, pc: RTCPeerConnection, track: ViewerTrack, offer_sdp: str
    ) -> tuple[str, rtp_out.LeanSender]:
        # Before setRemoteDescription, or aiortc answers with its first codec (VP8).
        sender = pc.addTrack(track)
        packer.install(sender)
        lean = rtp_out.install(sender, self.counters)
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video":
                transceiver.setCodecPreferences(_h264_preferences())  # type: ignore[arg-type]
        offer = filter_remote_candidates(offer_sdp, self._loopback_only)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except ValueError as exc:  # aiortc's word for an offer it cannot answer
            raise OfferError(f"cannot answer this offer: {exc}") from None
        local = pc.localDescription
        video = [t for t in pc.getTransceivers() if t.kind == "video"]
        if not video or not any(
            "H264" in line for line in local.sdp.splitlines() if line.startswith("a=rtpmap")
        ):
            raise OfferError("the viewer offers no H.264 decoder; the relay never re-encodes")
        return announce(local.sdp, self.settings.announce_address), lean

    async def end(self, session_id: str, reason: str = "delete") -> bool:
        session = self.sessions.pop(session_id, None)
        if session is None:
            return False
        self.counters.sessions_ended[reason] = self.counters.sessions_ended.get(reason, 0) + 1
        for timer in (session.connect_timer, session.length_timer):
            if timer is not None:
                timer.cancel()
        session.connect_timer = session.length_timer = None
        session.token = None
        session.track.stop()
        session.upstream.release()
        await session.pc.close()
        if session.lean is not None:
            session.lean.history.clear()
        if self.on_end is not None:
            self.on_end(session)
        log.info("viewer %s ended (%s, %s)", session.id[:8], session.camera_id, reason)
        return True

    async def close(self) -> None:
        await asyncio.gather(*(self.end(sid, "shutdown") for sid in list(self.sessions)))
        await self.pool.close()
