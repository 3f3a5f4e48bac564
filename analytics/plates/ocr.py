"""Text-line recognition with PP-OCRv4 rec (ONNX, from rapidocr-onnxruntime's wheel).

Input: a crop holding one line of text (a plate). The model's character set is in its
ONNX metadata (`character`); index 0 is the CTC blank and the last class a space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from analytics.detectors.runtime import Provider, make_session

HEIGHT = 48


class TextRecognizer:
    def __init__(self, path: Path, provider: Provider = "cpu", threads: int = 1) -> None:
        self.session = make_session(path, provider, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.characters = ["", *meta["character"].splitlines(), " "]
        self.input_name = self.session.get_inputs()[0].name

    def _prepare(self, crops: Sequence[NDArray[np.uint8]], width: int) -> NDArray[np.float32]:
        batch = np.zeros((len(crops), 3, HEIGHT, width), np.float32)
        for i, crop in enumerate(crops):
            h, w = crop.shape[:2]
            tw = min(width, max(1, math.ceil(HEIGHT * w / h)))
            x = cv2.resize(crop, (tw, HEIGHT)).astype(np.float32)
            batch[i, :, :, :tw] = ((x / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
        return batch

    def read(self, crops: Sequence[NDArray[np.uint8]]) -> list[tuple[str, float]]:
        """(text, mean character confidence) per BGR crop."""
        if not crops:
            return []
        ratio = max(c.shape[1] / c.shape[0] for c in crops)
        width = max(320, math.ceil(HEIGHT * ratio))
        (probs,) = self.session.run(None, {self.input_name: self._prepare(crops, width)})
        out = []
        for p in probs:
            ids = p.argmax(1)
            conf = p.max(1)
            keep = np.ones(len(ids), bool)
            keep[1:] = ids[1:] != ids[:-1]  # CTC: collapse repeats, then drop blanks
            keep &= ids != 0
            text = "".join(self.characters[i] for i in ids[keep])
            out.append((text, float(conf[keep].mean()) if keep.any() else 0.0))
        return out
