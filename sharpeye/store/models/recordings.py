"""The `recordings` table: the index of each recorded camera's segments and the gaps
between them, written by the ingest node that records the camera as each segment closes
(`ingest.recording_index`), read by retention and, later, playback.

A segment row names its file in the evidence store (`recordings/<camera>/<day>/<start>.mp4`
under `<data_dir>/evidence` of the node in `node_id`: files live on that node's disk, so only
that node's retention deletes them). A gap row (`kind = 'gap'`, no ref) says when the camera
was not recorded and why (`reason`: the camera reconnected, the writer fell behind, the disk
failed). `locked` rows are evidence: retention never deletes them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from sharpeye.store.db import Base


class RecordingRow(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8), doc="'segment' or 'gap'.")
    start_at: Mapped[float] = mapped_column(Float, doc="Unix time of the first picture.")
    end_at: Mapped[float] = mapped_column(Float, doc="Unix time the last picture ends.")
    ref: Mapped[str | None] = mapped_column(String(512), doc="Evidence reference (segments).")
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    codec: Mapped[str | None] = mapped_column(String(16))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(64), doc="Why a gap (gaps only).")
    locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        # A camera's timeline (listing, playback, age retention per camera).
        Index("ix_recordings_camera_start", "camera_id", "start_at"),
        # A node's disk budget removes its oldest segments first.
        Index("ix_recordings_node_start", "node_id", "start_at"),
    )
