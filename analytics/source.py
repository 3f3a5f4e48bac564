"""What analytics is fed by: a frame source, written here so the library imports no service.

The ingest engine is one (`IngestEngine.wait_frame`, keep-latest slots of decoded frames);
so is a test's list of frames. Whoever decodes a camera hosts analytics and hands it the
source: ingest imports analytics, never the other way (tests/test_layers.py).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt


class Frame(Protocol):
    """One decoded frame of a camera, as analytics reads it."""

    @property
    def image(self) -> npt.NDArray[np.uint8]:
        """H×W×3 BGR."""
        ...

    @property
    def received_at(self) -> float:
        """time.time() when the frame's access unit arrived."""
        ...

    @property
    def seq(self) -> int:
        """1, 2, … per camera: a consumer asks for frames newer than the last it took."""
        ...


class FrameSource(Protocol):
    def wait_frame(self, camera_id: str, after_seq: int = 0, timeout: float = 5.0) -> Frame | None:
        """The camera's newest frame with `seq` above `after_seq`, waiting up to `timeout`
        seconds (None: nothing newer yet); KeyError once the camera is gone."""
        ...
