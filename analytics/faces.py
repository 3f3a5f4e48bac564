"""Faces: detect (YuNet via yuface), keep the usable ones, embed (dlib ResNet), match.

Quality filter before the 75 ms embedding: a face smaller than `min_size` pixels, scored
low by the detector, blurred (variance of the Laplacian) or strongly turned (nose far from
the eyes' midpoint) gives embeddings that match the wrong people; it is dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from sharpeye.models.manifest import load_manifest, resolve

# yuface is fastest (and warns) above this width: detect on a downscaled copy.
DETECT_WIDTH = 640


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # xyxy in the frame
    score: float  # 0..1
    landmarks: NDArray[np.float32]  # 5×2: eyes, nose, mouth corners
    quality: float = 0.0  # 0..1, after `FaceAnalyzer.assess`


class FaceAnalyzer:
    def __init__(
        self,
        data_dir: Path,
        min_size: int = 32,
        min_score: float = 0.7,
        min_sharpness: float = 30.0,
    ) -> None:
        import dlib
        import yuface

        self._yuface = yuface
        _, shape_path = resolve(data_dir, "dlib-face-5pt")
        _, embed_path = resolve(data_dir, "dlib-face-embed")
        load_manifest(data_dir).get("yunet-face")  # provisioned (compiled into yuface)
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(shape_path))
        self._embed = dlib.face_recognition_model_v1(str(embed_path))
        self.min_size, self.min_score, self.min_sharpness = min_size, min_score, min_sharpness

    def detect(self, frame: NDArray[np.uint8]) -> list[Face]:
        scale = min(1.0, DETECT_WIDTH / frame.shape[1])
        small = frame if scale == 1.0 else cv2.resize(frame, None, fx=scale, fy=scale)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "image too large" advice; we already downscale
            confs, boxes, marks = self._yuface.detect(np.ascontiguousarray(small))
        faces = []
        for c, (x, y, w, h), lm in zip(confs, boxes, marks, strict=False):
            box = tuple(int(v / scale) for v in (x, y, x + w, y + h))
            pts = np.asarray(lm, np.float32).reshape(5, 2) / scale
            faces.append(Face(box, float(c) / 100.0, pts))  # type: ignore[arg-type]
        return faces

    def assess(self, frame: NDArray[np.uint8], face: Face) -> Face:
        x1, y1, x2, y2 = face.box
        size = min(x2 - x1, y2 - y1)
        crop = frame[max(0, y1) : y2, max(0, x1) : x2]
        if size < self.min_size or face.score < self.min_score or crop.size == 0:
            return Face(face.box, face.score, face.landmarks, 0.0)
        gray = cv2.cvtColor(cv2.resize(crop, (96, 96)), cv2.COLOR_BGR2GRAY)
        sharp = float(cv2.Laplacian(gray, cv2.CV_64F).var())
        eyes_mid = face.landmarks[:2].mean(0)
        eye_dist = float(np.linalg.norm(face.landmarks[0] - face.landmarks[1])) + 1e-6
        yaw = abs(float(face.landmarks[2, 0] - eyes_mid[0])) / eye_dist  # 0 frontal, ~1 profile
        if sharp < self.min_sharpness or yaw > 0.75:
            return Face(face.box, face.score, face.landmarks, 0.0)
        q = face.score * min(1.0, size / 112) * min(1.0, sharp / 200) * (1.0 - yaw)
        return Face(face.box, face.score, face.landmarks, float(q))

    def embed(self, frame: NDArray[np.uint8], face: Face) -> NDArray[np.float32]:
        """The 128-d dlib descriptor (Euclidean distance < ~0.5: same person)."""
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        rect = self._dlib.rectangle(*face.box)
        shape = self._shape(rgb, rect)
        return np.asarray(self._embed.compute_face_descriptor(rgb, shape), np.float32)

    def usable_faces(self, frame: NDArray[np.uint8]) -> list[Face]:
        return [f for f in (self.assess(frame, f) for f in self.detect(frame)) if f.quality > 0]


@dataclass(frozen=True)
class WatchPerson:
    person_id: str
    name: str
    embeddings: NDArray[np.float32]  # k×128, one per reference photo


class FaceWatchlist:
    """The key-person library: named persons with one or more reference photos."""

    def __init__(self, persons: Sequence[WatchPerson] = (), threshold: float = 0.5) -> None:
        self.persons = list(persons)
        self.threshold = threshold

    def add_photos(
        self, analyzer: FaceAnalyzer, person_id: str, name: str, photos: Sequence[NDArray[np.uint8]]
    ) -> WatchPerson:
        embs = []
        for img in photos:
            faces = sorted(analyzer.detect(img), key=lambda f: -(f.box[2] - f.box[0]))
            if not faces:
                raise ValueError(f"{person_id}: no face found in a reference photo")
            embs.append(analyzer.embed(img, faces[0]))
        person = WatchPerson(person_id, name, np.stack(embs))
        self.persons.append(person)
        return person

    def match(self, embedding: NDArray[np.float32]) -> tuple[WatchPerson, float] | None:
        """The closest person within the threshold, with the distance; None if nobody is."""
        best: tuple[WatchPerson, float] | None = None
        for p in self.persons:
            d = float(np.linalg.norm(p.embeddings - embedding, axis=1).min())
            if d < self.threshold and (best is None or d < best[1]):
                best = (p, d)
        return best
