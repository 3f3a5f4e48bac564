"""Recorded segments made from real footage for playback tests: fMP4 as ingest's recorder
writes them (camera.fmp4 MOVFLAGS, each segment's timestamps from 0, starting on a
keyframe), and their rows in the `recordings` index."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from sharpeye.store.models.recordings import RecordingRow


def fragmented_segment(source: Path, target: Path, skip_s: float, seconds: float) -> int:
    """`seconds` of `source` from its first keyframe at or after `skip_s`, remuxed to
    `target` as fMP4 with timestamps from 0 (as the recorder's writer numbers them);
    returns the frames written."""
    import av

    from camera.fmp4 import MOVFLAGS

    target.parent.mkdir(parents=True, exist_ok=True)
    frames = 0
    options = {"movflags": MOVFLAGS}
    with av.open(str(source)) as src, av.open(str(target), "w", "mp4", options=options) as out:
        video = src.streams.video[0]
        stream = out.add_stream_from_template(video)
        base: int | None = None
        for packet in src.demux(video):
            if packet.dts is None or packet.pts is None or packet.time_base is None:
                continue
            at = float(packet.pts * packet.time_base)
            if base is None:
                if at < skip_s or not packet.is_keyframe:
                    continue
                base = packet.dts
            if at - float(base * packet.time_base) >= seconds:
                break
            packet.pts -= base
            packet.dts -= base
            packet.stream = stream
            out.mux(packet)
            frames += 1
    return frames


def index_segment(
    sessions: sessionmaker[Session],
    camera_id: str,
    ref: str,
    start: float,
    end: float,
    path: Path,
    frames: int,
) -> None:
    with sessions() as s, s.begin():
        s.add(
            RecordingRow(
                node_id="test-node",
                camera_id=camera_id,
                kind="segment",
                start_at=start,
                end_at=end,
                ref=ref,
                bytes=path.stat().st_size,
                frames=frames,
                codec="h264",
                width=640,
                height=360,
            )
        )


def index_gap(
    sessions: sessionmaker[Session], camera_id: str, start: float, end: float, reason: str
) -> None:
    with sessions() as s, s.begin():
        s.add(
            RecordingRow(
                node_id="test-node",
                camera_id=camera_id,
                kind="gap",
                start_at=start,
                end_at=end,
                reason=reason,
            )
        )
