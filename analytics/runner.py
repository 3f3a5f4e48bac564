"""Live analytics on a frame source: frames → batcher → pipeline → publisher.

One feeder thread per camera waits on the source's keep-latest slot (`wait_frame`) and
puts the frame into the `DynamicBatcher`; one consumer thread takes batches across cameras,
runs the pipeline and publishes. The ingest worker hosts it (`ingest.analytics_host`) and
hands it its engine as the source (`analytics.source.FrameSource`); nothing here opens a
camera.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from analytics.batching import DynamicBatcher
from analytics.pipeline import FrameIn, Pipeline
from analytics.publish import Publisher
from analytics.source import Frame, FrameSource

log = logging.getLogger(__name__)


class AnalyticsRunner:
    def __init__(
        self,
        source: FrameSource,
        pipeline: Pipeline,
        publisher: Publisher,
        camera_ids: Sequence[str],
    ) -> None:
        self.source, self.pipeline, self.publisher = source, pipeline, publisher
        self.camera_ids = list(camera_ids)
        cfg = pipeline.config
        self.batcher: DynamicBatcher[Frame] = DynamicBatcher(
            cfg.batch_size, cfg.batch_wait_ms / 1000
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for cid in self.camera_ids:
            t = threading.Thread(
                target=self._feed, args=(cid,), name=f"analytics-feed-{cid}", daemon=True
            )
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._consume, name="analytics-consumer", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.batcher.close()
        for t in self._threads:
            t.join(timeout)
        try:
            self.publisher.publish([], self.pipeline.flush())  # open tracks become sightings
        except Exception:  # shutting down: the log says what was lost
            log.exception("analytics: final sightings not published")

    def _feed(self, camera_id: str) -> None:
        seq = 0
        while not self._stop.is_set():
            try:
                frame = self.source.wait_frame(camera_id, seq, timeout=1.0)
            except KeyError:  # camera removed from the source
                return
            if frame is not None:
                seq = frame.seq
                self.batcher.put(camera_id, frame)

    def _consume(self) -> None:
        while not self._stop.is_set():
            batch = self.batcher.get(timeout=1.0)
            if not batch:
                continue
            frames = [FrameIn(p.key, p.item.image, p.item.received_at) for p in batch]
            try:
                results = self.pipeline.process(frames)
                self.publisher.publish(results)
            except Exception:  # one bad batch must not stop analytics for every camera
                log.exception("analytics: batch of %d frames failed", len(frames))
