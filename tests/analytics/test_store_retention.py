"""Sightings past their retention are deleted with their attributes and plate keys, in bounded
batches, on SQLite and PostgreSQL; the API's services run it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import Engine, func, select

from analytics.store import find_by_plate, prune_sightings, store_sightings
from sharpeye.contracts.events import Box
from sharpeye.contracts.sightings import Sighting
from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, upgrade_database
from sharpeye.store.models.sightings import SightingAttribute, SightingPlateKey, SightingRow
from tests.command_api.harness import NOON, harness

DAY = 86400.0


def _seen(at: float, track: int) -> Sighting:
    return Sighting(
        camera_id="junction-east",
        track_id=track,
        class_name="car",
        first_seen=at,
        last_seen=at + 5,
        score=0.9,
        box=Box(x1=0.1, y1=0.1, x2=0.2, y2=0.2),
        plate="皖S12345",
        attributes={"color": "white"},
    )


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as c:
        return tuple(  # type: ignore[return-value]
            c.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (SightingRow, SightingAttribute, SightingPlateKey)
        )


def test_old_sightings_go_with_their_index_rows(tmp_path: Path, database_url: str) -> None:
    settings = Settings.model_validate(
        {"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": database_url}
    )
    upgrade_database(settings)
    engine = create_engine_for(settings)
    try:
        store_sightings(engine, [_seen(NOON - 100 * DAY + i, i) for i in range(7)])
        store_sightings(engine, [_seen(NOON - DAY, 99)])
        before = _counts(engine)
        assert before[0] == 8 and before[1] == 8 and before[2] > 8
        assert prune_sightings(engine, NOON - 90 * DAY, limit=5) == 5  # bounded
        assert prune_sightings(engine, NOON - 90 * DAY, limit=5) == 2
        assert prune_sightings(engine, NOON - 90 * DAY, limit=5) == 0
        rows, attributes, keys = _counts(engine)
        assert (rows, attributes) == (1, 1) and keys == before[2] // 8
        found = find_by_plate(engine, "皖S12345", NOON - 200 * DAY, NOON, fuzzy=True)
        assert [s.track_id for s in found] == [99]
    finally:
        engine.dispose()


async def test_the_api_prunes_what_is_past_retention(tmp_path: Path, redis_url: str) -> None:
    async with harness(tmp_path, redis_url) as api:
        engine = api.runtime.sessions.kw["bind"]
        assert isinstance(engine, Engine)
        await asyncio.wait_for(api.services.retention_started.wait(), 30)  # not racing it
        store_sightings(engine, [_seen(NOON - 100 * DAY, 1), _seen(NOON - DAY, 2)])
        assert await api.services.prune_once() == 1  # the 90-day default, the API's clock
        assert _counts(engine)[0] == 1


def test_evidence_goes_by_whole_days_that_ended_before_the_cutoff(tmp_path: Path) -> None:
    import time

    from analytics.evidence import prune_evidence

    def day(t: float) -> str:
        return time.strftime("%Y%m%d", time.gmtime(t))

    root = tmp_path / "evidence"
    for kind, at in (
        ("snapshots", NOON - 100 * DAY),
        ("events", NOON - 91 * DAY),
        ("snapshots", NOON - 90 * DAY),
        ("snapshots", NOON - DAY),
    ):
        folder = root / kind / "junction-east" / day(at)
        folder.mkdir(parents=True)
        (folder / "a.jpg").write_bytes(b"jpeg")
    assert prune_evidence(root, NOON - 90 * DAY) == 2  # the 100- and 91-day-old days
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))
    assert left == [
        f"snapshots/junction-east/{day(NOON - 90 * DAY)}/a.jpg",  # not over yet at the cutoff
        f"snapshots/junction-east/{day(NOON - DAY)}/a.jpg",
    ]
    assert prune_evidence(tmp_path / "nowhere", NOON) == 0


def test_locked_evidence_outlives_its_day(tmp_path: Path) -> None:
    import time

    from analytics.evidence import prune_evidence

    root = tmp_path / "evidence"
    old = time.strftime("%Y%m%d", time.gmtime(NOON - 100 * DAY))
    folder = root / "clips" / "junction-east" / old
    folder.mkdir(parents=True)
    for name in ("kept.mp4", "gone.mp4"):
        (folder / name).write_bytes(b"mp4")
    kept = f"clips/junction-east/{old}/kept.mp4"
    assert prune_evidence(root, NOON, locked={kept}) == 1
    assert [p.relative_to(root).as_posix() for p in root.rglob("*.mp4")] == [kept]
