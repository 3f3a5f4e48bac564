"""A GB/T 28181 channel pulled for the relay: PS over RTP demuxed to H.264, never decoded.

A `gb28181://<device>/<channel>` camera is not pulled from the camera: `sharpeye gb28181`
(the SIP service devices register to) INVITEs the channel to a port of the relay's own,
asked over Redis as ingest asks (`camera.gb28181.signalling.RedisSignalling`), so the
relay's call is its own, with its own lease: the wall watching a channel and ingest
analysing it are two calls, and either ends without the other. While the upstream plays,
its thread keeps the lease; when the upstream closes (its last viewer left, `idle_close_s`
later), the thread asks for the BYE; if the relay dies, the lease lapses and the service
hangs up itself.

Receiving and demuxing are `camera.gb28181.source.GbSource`'s, as in ingest: it blocks in
its reads, so each such pull has a thread, like FFmpeg's (`relay.pyav_pull`), with the same
shape (`opened`, `ended`, `stop`, `join`) so the upstream drives both alike. The codec is
only known from the stream (the PSM), so `opened` resolves at the first keyframe with the
parameter sets the device sent in-band before it; the access units' timestamps are the PES
PTS (else the RTP timestamp), the 90 kHz clock the upstream times RTSP frames by.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import redis

from camera.gb28181.invite import MediaTransport
from camera.gb28181.playing import from_first_keyframe, parameter_sets
from camera.gb28181.signalling import GbSignalling, RedisSignalling
from camera.gb28181.source import GbPlayError, GbSource, GbStreamError
from camera.rtsp.depacketize import AccessUnit
from relay.sources import SourceSpec
from relay.thread_pull import ThreadedPull
from sharpeye.bus.connect import RedisUnavailableError, connect_sync
from sharpeye.registry.urls import parse_gb28181_url
from sharpeye.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GbOpened:
    codec: str  # from the PSM: h264 or hevc
    parameter_sets: list[bytes]  # from the first keyframe (in-band), without start codes


class GbAccess:
    """How this relay reaches `sharpeye gb28181`: the node's Redis, connected at the first
    GB camera a viewer asks for (a relay without GB cameras needs none), and the address
    devices send RTP to."""

    def __init__(
        self,
        settings: Settings | None,
        node_id: str,
        media_host: str = "127.0.0.1",
        signalling: GbSignalling | None = None,
    ) -> None:
        self.settings = settings
        self.node_id = node_id
        self.media_host = media_host
        self._signalling = signalling
        self._redis: redis.Redis | None = None
        self._lock = threading.Lock()  # pulls' threads may ask at once

    @classmethod
    def for_relay(cls, settings: Settings, worker: int) -> GbAccess:
        # The node id names the asker in the service's log and its reply keys: the worker
        # too, since each relay worker keeps calls of its own.
        node = f"relay-{settings.node_id}-{worker}"
        return cls(settings, node, settings.gb28181_media_host)

    def signalling(self) -> GbSignalling:
        """The signalling (blocking: call on a pull's thread); GbPlayError without Redis."""
        with self._lock:
            if self._signalling is None:
                if self.settings is None:
                    raise GbPlayError("this relay has no way to the GB28181 service")
                try:
                    self._redis = connect_sync(self.settings, check=False)
                except RedisUnavailableError as exc:
                    raise GbPlayError(f"cannot ask the GB28181 service: {exc}") from None
                self._signalling = RedisSignalling(self._redis, self.node_id, role="relay")
            return self._signalling

    def close(self) -> None:
        with self._lock:
            if self._redis is not None:
                self._redis.close()
            self._redis = None
            self._signalling = None


class GbPull(ThreadedPull[GbOpened]):
    """One play of a channel on its own thread, from the INVITE to its end or `stop()`.

    `opened` resolves at the first keyframe (or fails with GbPlayError: the service or the
    device refused, no keyframe came); `ended` resolves with the exception that ended the
    pull (None after a stop). Frames go to `on_frame` on the loop, never after `stop()`.
    """

    def __init__(
        self,
        spec: SourceSpec,
        access: GbAccess,
        loop: asyncio.AbstractEventLoop,
        on_frame: Callable[[AccessUnit], None],
        open_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        super().__init__(spec, loop, on_frame, f"relay-gb-{spec.camera_id}-{spec.stream}")
        self._access = access
        self._open_timeout_s = open_timeout_s
        self._read_timeout_s = read_timeout_s
        self.where = f"camera {spec.camera_id}"

    # -- the thread ----------------------------------------------------------------------

    def _crashed(self, exc: Exception) -> BaseException:
        log.error("%s: GB28181 pull failed", self.where, exc_info=exc)
        return ConnectionError(f"{self.where}: unexpected {type(exc).__name__}")

    def _play(self) -> BaseException | None:
        spec = self._spec
        try:
            device_id, channel_id = parse_gb28181_url(spec.url)
            signalling = self._access.signalling()
        except (ValueError, GbPlayError) as exc:  # the upstream names the camera
            return exc if isinstance(exc, GbPlayError) else GbPlayError(str(exc))
        transport: MediaTransport = "tcp" if spec.transport == "tcp" else "udp"
        source = GbSource(
            device_id,
            channel_id,
            signalling,
            transport=transport,
            host=self._access.media_host,
            answer_timeout_s=self._open_timeout_s,
            read_timeout_s=self._read_timeout_s,
        )
        self.where = f"camera {spec.camera_id} ({source.where})"
        try:
            source.open()
        except GbPlayError as exc:
            return exc
        try:
            started = False
            # Up to a read timeout for the first keyframe: a GOP of several seconds is common
            # on GB devices, and the viewer waits for it anyway.
            units = from_first_keyframe(source, signalling, self._stop.is_set, self._read_timeout_s)
            for au in units:
                if au is None:
                    continue
                if not started:
                    started = True
                    if not self._started(source, au):
                        return None
                if not self._post(self._deliver, au):
                    return None  # the loop is gone: nobody to feed
            return None  # stopped
        except GbStreamError as exc:  # a ConnectionError: the device's BYE, no video
            return exc
        finally:
            source.close()  # the BYE, through the service

    def _started(self, source: GbSource, first: AccessUnit) -> bool:
        """Announce the codec; False when the relay cannot pass it on (H.265)."""
        codec = source.codec
        assert codec is not None  # the first unit from_first_keyframe yields has one
        self._post(self._set_opened, GbOpened(codec, parameter_sets(first.data, codec == "hevc")))
        handle = source.handle
        ssrc = handle.answer.ssrc if handle is not None else None
        log.info("%s: playing GB28181 %s (SSRC %s)", self._spec.camera_id, codec, ssrc)
        return codec == "h264"  # the upstream refuses the rest: browsers cannot play them

    # -- on the loop -----------------------------------------------------------------------

    def _settle(self, reason: BaseException | None) -> None:
        if not self.opened.done():
            if isinstance(reason, GbPlayError):
                self.opened.set_exception(reason)
            else:
                what = reason or "stopped"
                self.opened.set_exception(GbPlayError(f"{what} before playing"))
        if not self.ended.done():
            self.ended.set_result(reason)
