"""One camera's analytics state: gate, tracker, rules, fire, faces and plates → outputs.

`CameraAnalytics.process` takes one analysed frame (with the detector's boxes, or None
when the motion gate skipped it) and returns the frame's detections, the events it raised
and the sightings of tracks that ended.
"""

from __future__ import annotations

import time
from typing import cast

import numpy as np
import supervision as sv
from numpy.typing import NDArray

from analytics.config import VEHICLES, AnalyticsConfig
from analytics.evidence import EvidenceStore, marked
from analytics.faces import FaceAnalyzer, FaceWatchlist
from analytics.fire import FireDetector, SmokeDetector
from analytics.motion import MotionGate
from analytics.plates.reader import PlateReader
from analytics.results import SEVERITY, FrameResult
from analytics.rules import RuleHit, ZoneLineRules, in_polygon
from analytics.tracking import ByteTracker
from analytics.tracks import TrackState, norm_box
from sharpeye.contracts.detections import Detection, FrameDetections
from sharpeye.contracts.events import Event, EvidenceRef
from sharpeye.contracts.sightings import Sighting
from sharpeye.registry import Camera


class CameraAnalytics:
    def __init__(
        self,
        camera: Camera,
        features: frozenset[str],
        config: AnalyticsConfig,
        *,
        faces: FaceAnalyzer | None = None,
        face_watchlist: FaceWatchlist | None = None,
        plates: PlateReader | None = None,
        evidence: EvidenceStore | None = None,
        node_id: str | None = None,
    ) -> None:
        self.camera, self.features, self.config = camera, features, config
        self.camera_id = camera.id
        self.faces = faces if "faces" in features else None
        self.face_watchlist = face_watchlist
        self.plates = plates if "plates" in features else None
        # The node's list (analytics.yaml) and the camera's own (registry), one set.
        self.plate_watchlist = {*config.plates.watchlist, *camera.analytics.plate_watchlist}
        self.evidence = evidence or EvidenceStore(None)
        self.node_id = node_id
        m = config.motion
        self.gate = MotionGate(m.width, m.pixel_threshold, m.min_fraction, m.heartbeat_s)
        self.tracker = ByteTracker(high_score=max(camera.analytics.min_score, 0.3))
        r = config.rules
        self.rules = ZoneLineRules(
            camera.analytics.zones,
            camera.analytics.lines,
            intrusion="intrusion" in features,
            loitering="loitering" in features,
            crossing="lines" in features,
            crowd="crowd" in features,
            loiter_s=r.loiter_s,
            crowd_min=r.crowd_min_people,
            crowd_hold_s=r.crowd_hold_s,
            cooldown_s=r.cooldown_s,
        )
        f = config.fire
        self.fire = (
            FireDetector(f.min_area, f.min_flicker, f.window, f.hold)
            if "fire" in features
            else None
        )
        self.smoke = SmokeDetector() if "fire" in features else None
        self._fire_last_event = -float("inf")
        self._smoke_last_event = -float("inf")
        self.tracks: dict[int, TrackState] = {}
        self._last_hit: dict[str, float] = {}  # watchlist key → time of its last event
        self.uses_detector = "objects" in features

    def wants_detection(self, frame: NDArray[np.uint8], at: float) -> bool:
        if not self.uses_detector:
            return False
        if not self.config.motion.enabled:
            return True
        return self.gate.check(frame, at)

    def _filter(self, d: sv.Detections, width: int, height: int) -> sv.Detections:
        if len(d) == 0:
            return d
        names = d.data["class_name"]
        conf = d.confidence if d.confidence is not None else np.ones(len(d))
        area = (d.xyxy[:, 2] - d.xyxy[:, 0]) * (d.xyxy[:, 3] - d.xyxy[:, 1]) / (width * height)
        # Keep weak boxes of wanted classes for the tracker's second round; rules see only
        # confirmed tracks, which start from boxes above the camera's min_score.
        if self.config.rules.zones_only and self.camera.analytics.zones:
            feet = np.column_stack(
                [(d.xyxy[:, 0] + d.xyxy[:, 2]) / 2 / width, d.xyxy[:, 3] / height]
            )
            inside = np.array(
                [
                    any(in_polygon((x, y), z.polygon) for z in self.camera.analytics.zones)
                    for x, y in feet
                ],
                dtype=bool,
            )
        else:
            inside = np.ones(len(d), dtype=bool)
        keep = inside & (
            np.isin(names, self.config.classes)
            & (conf >= 0.2)
            & (area >= self.config.rules.min_area)
        )
        return cast(sv.Detections, d[keep])

    def process(
        self, frame: NDArray[np.uint8], at: float, detections: sv.Detections | None
    ) -> FrameResult:
        h, w = frame.shape[:2]
        events: list[Event] = []
        out: list[Detection] = []
        if self.fire is not None:
            events.extend(self._fire(frame, at))
        if detections is not None:
            tracked = self.tracker.update(self._filter(detections, w, h), at)
            out, hits = self._observe(frame, at, tracked)
            events.extend(self._rule_events(frame, at, hits))
            if self.faces is not None:
                events.extend(self._faces(frame, at, tracked))
            if self.plates is not None:
                events.extend(self._plates(frame, at, tracked, out))
        elif self.uses_detector:
            # Gated out: nothing moved. Tracks stay put; time-based rules (loitering) go on.
            self.tracker.hold(at)
            still = [(t, s.class_name, s.path[-1]) for t, s in self.tracks.items() if s.path]
            hits = self.rules.update(
                at,
                [(t, c, (p.x, p.y)) for t, c, p in still],
                set(self.config.rules.intrusion_classes),
            )
            events.extend(self._rule_events(frame, at, [h for h in hits if h.kind == "loitering"]))
            out = [  # the tracked objects, where they were last seen
                Detection(
                    class_name=self.tracks[t.track_id].class_name,
                    score=min(1.0, self.tracks[t.track_id].best_score),
                    box=norm_box(t.box, w, h),
                    track_id=t.track_id,
                )
                for t in self.tracker.tracks
                if t.track_id in self.tracks
            ]
        ended = [t for t in self.tracks if t not in self.tracker.live_ids()]
        sightings = [self._end(t) for t in ended]
        return FrameResult(
            FrameDetections(camera_id=self.camera_id, at=at, width=w, height=h, detections=out),
            events,
            sightings,
            dict(self.rules.density),
        )

    def flush(self) -> list[Sighting]:
        """Sightings of every open track (shutdown, end of a file)."""
        return [self._end(t) for t in list(self.tracks)]

    def _observe(
        self, frame: NDArray[np.uint8], at: float, tracked: sv.Detections
    ) -> tuple[list[Detection], list[RuleHit]]:
        h, w = frame.shape[:2]
        out, ground = [], []
        conf = tracked.confidence if tracked.confidence is not None else np.ones(len(tracked))
        ids = tracked.tracker_id if tracked.tracker_id is not None else np.zeros(len(tracked), int)
        min_score = self.camera.analytics.min_score
        for xyxy, score, cls, tid in zip(
            tracked.xyxy, conf, tracked.data["class_name"], ids, strict=True
        ):
            tid, cls = int(tid), str(cls)
            box = norm_box(xyxy, w, h)
            if tid < 0:  # not confirmed yet: reported, not remembered
                if score >= min_score:
                    out.append(Detection(class_name=cls, score=min(1.0, float(score)), box=box))
                continue
            point = ((box.x1 + box.x2) / 2, box.y2)
            st = self.tracks.setdefault(tid, TrackState(tid, at, at))
            x1, y1, x2, y2 = (int(v) for v in xyxy)
            st.observe(at, cls, float(score), box, point, frame[max(0, y1) : y2, max(0, x1) : x2])
            ground.append((tid, st.class_name, point))
            out.append(
                Detection(class_name=cls, score=min(1.0, float(score)), box=box, track_id=tid)
            )
        hits = self.rules.update(at, ground, set(self.config.rules.intrusion_classes))
        return out, hits

    def _event(
        self,
        kind: str,
        frame: NDArray[np.uint8],
        at: float,
        *,
        box: tuple[float, float, float, float] | None = None,
        **fields: object,
    ) -> Event:
        event_id = f"{self.camera_id}-{kind}-{time.time_ns()}"
        evidence = []
        if self.config.evidence:
            ref = self.evidence.save("events", self.camera_id, event_id, frame)
            if ref is not None:
                b = None if box is None else dict(zip(("x1", "y1", "x2", "y2"), box, strict=True))
                # The snapshot shows what was detected (drawn); the frame as the camera sent
                # it stays beside it, unmarked, for the record.
                drawn = None
                if box is not None:
                    drawn = self.evidence.save(
                        "events", self.camera_id, f"{event_id}-marked", marked(frame, box)
                    )
                if drawn is not None:
                    evidence.append(
                        EvidenceRef.model_validate(
                            {"kind": "snapshot", "ref": drawn, "at": at, "box": b}
                        )
                    )
                as_taken = "frame" if drawn is not None else "snapshot"
                evidence.append(
                    EvidenceRef.model_validate({"kind": as_taken, "ref": ref, "at": at, "box": b})
                )
        return Event.model_validate(
            {
                "event_type": kind,
                "camera_id": self.camera_id,
                "occurred_at": at,
                "severity": SEVERITY.get(kind, "medium"),
                "evidence": evidence,
                "node_id": self.node_id,
                **{k: v for k, v in fields.items() if v is not None},
            }
        )

    def _rule_events(self, frame: NDArray[np.uint8], at: float, hits: list[RuleHit]) -> list[Event]:
        events = []
        for hit in hits:
            st = self.tracks.get(hit.track_id) if hit.track_id is not None else None
            box = None if st is None or st.best_box is None else self._box_of(st)
            attrs: dict[str, str | int | float | bool] = {}
            if hit.direction:
                attrs["direction"] = hit.direction
            if hit.kind == "crowd" and hit.zone_id:
                attrs["density"] = round(self.rules.density.get(hit.zone_id, 0.0), 2)
            events.append(
                self._event(
                    hit.kind,
                    frame,
                    at,
                    box=box,
                    zone_id=hit.zone_id,
                    line_id=hit.line_id,
                    track_id=hit.track_id,
                    value=hit.value,
                    label=st.class_name if st else None,
                    attributes=attrs,
                )
            )
        return events

    @staticmethod
    def _box_of(st: TrackState) -> tuple[float, float, float, float]:
        b = st.best_box
        assert b is not None
        return (b.x1, b.y1, b.x2, b.y2)

    def _fire(self, frame: NDArray[np.uint8], at: float) -> list[Event]:
        assert self.fire is not None and self.smoke is not None
        events = []
        smoke = self.smoke.update(frame)
        if smoke.alarm and at - self._smoke_last_event >= self.config.rules.cooldown_s:
            self._smoke_last_event = at
            events.append(
                self._event(
                    "smoke",
                    frame,
                    at,
                    value=round(smoke.area, 4),
                    attributes={"method": "desaturation+softening+growth"},
                )
            )
        reading = self.fire.update(frame)
        if not reading.alarm or at - self._fire_last_event < self.config.rules.cooldown_s:
            return events
        self._fire_last_event = at
        attrs: dict[str, str | int | float | bool] = {"flicker": round(reading.flicker, 3)}
        fire = self._event(
            "fire", frame, at, box=reading.box, value=round(reading.area, 4), attributes=attrs
        )
        return [*events, fire.model_copy(update={"score": min(1.0, reading.flicker * 2)})]

    def _faces(self, frame: NDArray[np.uint8], at: float, tracked: sv.Detections) -> list[Event]:
        assert self.faces is not None
        events = []
        people = [
            (int(t), xyxy)
            for t, xyxy, cls in zip(
                tracked.tracker_id if tracked.tracker_id is not None else [],
                tracked.xyxy,
                tracked.data["class_name"],
                strict=False,
            )
            if cls == "person" and t >= 0
        ]
        for face in self.faces.usable_faces(frame):
            cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
            owner = next((t for t, b in people if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]), None)
            st = self.tracks.get(owner) if owner is not None else None
            if st is not None and face.quality <= st.face_quality:
                continue  # already embedded a better view of this person
            emb = self.faces.embed(frame, face)
            match = self.face_watchlist.match(emb) if self.face_watchlist else None
            if st is not None:
                st.face_quality, st.face_embedding = face.quality, emb
                if match:
                    st.face_match = match[0].person_id
            key = f"face:{match[0].person_id}" if match else ""
            if match and self._first_time(key, st, at):
                h, w = frame.shape[:2]
                fb = (face.box[0] / w, face.box[1] / h, face.box[2] / w, face.box[3] / h)
                events.append(
                    self._event(
                        "watchlist_face",
                        frame,
                        at,
                        box=(fb[0], fb[1], min(1.0, fb[2]), min(1.0, fb[3])),
                        track_id=owner,
                        label=match[0].name,
                        score=max(0.0, 1.0 - match[1]),
                        attributes={
                            "person_id": match[0].person_id,
                            "distance": round(match[1], 3),
                        },
                    )
                )
        return events

    def _plates(
        self, frame: NDArray[np.uint8], at: float, tracked: sv.Detections, out: list[Detection]
    ) -> list[Event]:
        assert self.plates is not None
        ids: list[int] = [] if tracked.tracker_id is None else tracked.tracker_id.tolist()
        regions, owners = [], []
        for tid, xyxy, cls in zip(ids, tracked.xyxy, tracked.data["class_name"], strict=False):
            st = self.tracks.get(int(tid)) if tid >= 0 else None
            # OCR is the expensive part: stop reading a vehicle once it was read well twice.
            if (
                cls in VEHICLES
                and st is not None
                and not any(n >= 2 for n, _ in st.plates.values())
            ):
                regions.append(xyxy)
                owners.append(int(tid))
        reads = self.plates.read(frame, regions) if regions else []
        if self.config.plates.whole_frame and not reads:
            reads = self.plates.read(frame)
        events = []
        for r in reads:
            owner: int | None = owners[r.region] if r.region >= 0 else None
            st = self.tracks.get(owner) if owner is not None else None
            if st is not None:
                st.add_plate(r.text, r.score)
            for i, d in enumerate(out):
                if owner is not None and d.track_id == owner:
                    out[i] = d.model_copy(
                        update={"plate": r.text, "plate_score": min(1.0, r.score)}
                    )
            key = f"plate:{r.text}"
            if r.text in self.plate_watchlist and self._first_time(key, st, at):
                h, w = frame.shape[:2]
                x1, y1, x2, y2 = r.box
                events.append(
                    self._event(
                        "watchlist_plate",
                        frame,
                        at,
                        box=(x1 / w, y1 / h, x2 / w, y2 / h),
                        track_id=owner,
                        label=r.text,
                        score=min(1.0, r.score),
                    )
                )
        return events

    def _first_time(self, key: str, st: TrackState | None, at: float) -> bool:
        """Once per track, and once per `cooldown_s` per camera whatever the track (the same
        plate found by the whole-frame search and then on a detected vehicle is one hit)."""
        recent = at - self._last_hit.get(key, -float("inf")) < self.config.rules.cooldown_s
        first = not recent and (st is None or key not in st.events)
        if st is not None:
            st.events.add(key)
        if first:
            self._last_hit[key] = at
        return first

    def _end(self, track_id: int) -> Sighting:
        st = self.tracks.pop(track_id)
        self.rules.forget([track_id])
        ref = None
        if self.config.evidence and st.best_crop is not None:
            ref = self.evidence.save(
                "snapshots", self.camera_id, f"track-{track_id}-{int(st.first_seen)}", st.best_crop
            )
        return st.to_sighting(self.camera_id, ref, self.node_id)
