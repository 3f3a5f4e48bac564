"""The GB/T 28181 reader: one thread per `gb28181://<device>/<channel>` camera, driving
`camera.gb28181.source.GbSource` (bind a port, have the SIP service INVITE the channel to
it, receive PS over RTP, demux to access units, BYE at the end).

It is the PyAV reader's thread with another source: the same reconnect loop and backoff,
the same delivery (the session's tee: clips, recording, the analytics decoder), the same
housekeeping (health, diagnosis), so a GB channel is a camera like any other downstream.
What differs: the SIP side is reached through `GbSignalling` (over Redis from the ingest
worker, `camera.gb28181.signalling`), whose lease the reader keeps while it plays; and the
codec and parameter sets are not known before the video comes, so the stream is attached at
its first keyframe (`camera.gb28181.playing`, as the relay's upstream does), the units
before it dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from camera.gb28181.invite import MediaTransport
from camera.gb28181.playing import from_first_keyframe, parameter_sets
from camera.gb28181.signalling import GbSignalling
from camera.gb28181.source import GbPlayError, GbSource, GbStreamError
from camera.rtsp.depacketize import AccessUnit
from ingest.pyav_reader import HOUSEKEEPING_S, PyavReader, ReaderHost
from ingest.session import Session
from sharpeye.registry.urls import parse_gb28181_url

log = logging.getLogger(__name__)

# How often a playing channel's socket is read (`GbSource.read_every_s`): 10 times a
# second, 2-3 pictures a read at 25 fps. Analytics and recording do not mind 100 ms; the
# wake-ups saved are most of what a GB camera cost beyond its parsing (measured with
# benchmarks.gb28181_probe, 20 cameras: 1.8-2.0 ms CPU per camera-second reading at once,
# the same at 40 ms, which still wakes once a picture, 1.15 at 100 ms). The relay, for
# live view, reads at once.
READ_EVERY_S = 0.1


class GbReaderHost(ReaderHost, Protocol):
    @property
    def gb_signalling(self) -> GbSignalling | None:
        """How this node reaches `sharpeye gb28181` (None: it cannot)."""
        ...

    @property
    def gb_media_host(self) -> str:
        """The address devices send RTP to (this node's, as devices reach it)."""
        ...


class GbReader(PyavReader):
    """Plays one GB/T 28181 channel until stopped, reconnecting with the camera's backoff."""

    def __init__(self, host: GbReaderHost, sess: Session) -> None:
        super().__init__(host, sess)
        self.name = f"ingest-gb-{sess.spec.camera_id}"
        self.gb_host = host
        self.device_id, self.channel_id = parse_gb28181_url(sess.spec.url)

    def _play_once(self) -> str | None:
        sess = self.sess
        host = self.gb_host
        signalling = host.gb_signalling
        if signalling is None:
            return f"{sess.spec.url}: this ingest node has no way to the GB28181 service"
        sess.connecting = True
        transport: MediaTransport = "tcp" if sess.spec.transport == "tcp" else "udp"
        source = GbSource(
            self.device_id,
            self.channel_id,
            signalling,
            transport=transport,
            host=host.gb_media_host,
            answer_timeout_s=host.connect_timeout_s,
            read_timeout_s=host.stall_s,
            read_every_s=READ_EVERY_S,
        )
        try:
            source.open()
        except GbPlayError as exc:
            return None if self.halted() else str(exc)
        try:
            return self._read(source, signalling)
        except GbStreamError as exc:
            return str(exc)
        finally:
            source.close()

    def _read(self, source: GbSource, signalling: GbSignalling) -> str | None:
        attached = False
        next_tick = 0.0
        keyframe_wait_s = 2 * self.host.stall_s
        for au in from_first_keyframe(source, signalling, self.halted, keyframe_wait_s):
            now = time.monotonic()
            if au is not None:
                if not attached:
                    self._start(source, au)
                    attached = True
                self._deliver(au)
            if attached and (au is None or now >= next_tick):
                next_tick = now + HOUSEKEEPING_S
                self._housekeeping(source, now)
        return None  # stopped

    def _start(self, source: GbSource, first: AccessUnit) -> None:
        codec = source.codec
        assert codec is not None
        self._attach(source, codec, parameter_sets(first.data, codec == "hevc"))
        log.info(
            "camera %s: playing GB28181 %s (SSRC %s)",
            self.sess.spec.camera_id,
            source.where,
            source.handle.answer.ssrc if source.handle else "?",
        )
