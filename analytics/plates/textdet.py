"""Text-line detection with PP-OCRv4 det (ONNX, from rapidocr-onnxruntime's wheel).

The plate locator's fallback: colour finds blue, yellow and green plates, but white (police,
military) and black (Hong Kong / Macau, legacy foreign) plates have no colour to find.
Any plate is a line of dark-on-light or light-on-dark text, which is what this DB
(differentiable binarisation) network marks. It runs on a vehicle crop scaled to
`max_side` pixels (a plate is a third of a vehicle's width: still ~100 px there), never on a
whole frame: ~18 ms a crop on one core, against ~200 ms for det on a 640×480 frame.

Post-processing is a lean version of RapidOCR's `DBPostProcess` for near-horizontal lines
(rear plates): threshold the probability map, score each component by its mean
probability, grow its box by the DB "unclip" distance (area × ratio / perimeter).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from analytics.detectors.runtime import Provider, make_session

# PP-OCR det settings as RapidOCR ships them (config.yaml: Det).
THRESH = 0.3  # pixel probability that counts as text
BOX_THRESH = 0.5  # mean probability inside a component to keep it
UNCLIP_RATIO = 1.6  # DB shrinks text regions in training: grow them back by this


class TextDetector:
    def __init__(
        self, path: Path, provider: Provider = "cpu", threads: int = 1, max_side: int = 320
    ) -> None:
        self.session = make_session(path, provider, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.max_side = max_side

    def _input(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], float, float]:
        h, w = image.shape[:2]
        # Small crops are scaled up too: the network misses text lines under ~8 px tall.
        scale = self.max_side / max(h, w)
        th = max(32, round(h * scale / 32) * 32)  # the network downsamples by 32
        tw = max(32, round(w * scale / 32) * 32)
        x = cv2.resize(image, (tw, th)).astype(np.float32)
        x = ((x / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        return np.ascontiguousarray(x, np.float32), w / tw, h / th

    def detect(self, image: NDArray[np.uint8]) -> list[tuple[tuple[int, int, int, int], float]]:
        """Text lines in a BGR image: (xyxy box in the image, score), best first."""
        x, sx, sy = self._input(image)
        (pred,) = self.session.run(None, {self.input_name: x})
        prob = np.asarray(pred, np.float32)[0, 0]
        mask = cv2.dilate((prob > THRESH).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        h, w = image.shape[:2]
        out: list[tuple[tuple[int, int, int, int], float]] = []
        for c in contours:
            bx, by, bw, bh = cv2.boundingRect(c)
            if min(bw, bh) < 3:
                continue
            region = np.zeros((bh, bw), np.uint8)
            cv2.drawContours(region, [c - np.array([bx, by])], -1, 1, -1)
            score = float(cv2.mean(prob[by : by + bh, bx : bx + bw], region)[0])
            if score < BOX_THRESH:
                continue
            d = bw * bh * UNCLIP_RATIO / (2 * (bw + bh))
            x1, y1 = max(0, int((bx - d) * sx)), max(0, int((by - d) * sy))
            x2, y2 = min(w, int((bx + bw + d) * sx)), min(h, int((by + bh + d) * sy))
            out.append(((x1, y1, x2, y2), score))
        out.sort(key=lambda t: -t[1])
        return out
