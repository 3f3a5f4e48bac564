"""Plate search: scope-filtered trajectories, investigators only, every search audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from analytics.store import store_sightings
from command_api.auth.roles import Role
from command_api.auth.seed import DEMO_USERS, DemoUser
from sharpeye.contracts.sightings import Sighting
from tests.command_api.harness import NOON, Harness, harness

CASE = "HF-2026-0042"  # the case each search is for (audited)


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False) as h:
        yield h


def seen(camera: str, at: float, track: int, plate: str = "皖S12345") -> Sighting:
    return Sighting.model_validate(
        {
            "camera_id": camera,
            "track_id": track,
            "class_name": "car",
            "first_seen": at,
            "last_seen": at + 5,
            "score": 0.8,
            "box": {"x1": 0.1, "y1": 0.1, "x2": 0.3, "y2": 0.3},
            "plate": plate,
            "plate_score": 0.9,
        }
    )


async def test_trajectory_in_time_order_within_scope_and_audited(api: Harness) -> None:
    engine = api.runtime.sessions.kw["bind"]
    # The API migrated its store at startup: the sightings table is there without more.
    assert isinstance(engine, Engine)
    store_sightings(
        engine,
        [
            seen("junction-west", NOON + 60, 2),
            seen("junction-east", NOON, 1),
            seen("school-gate", NOON + 120, 3),
        ],
    )
    police = await api.login("police-wall")  # investigator; police sees every group
    r = await api.client.get(
        "/api/sightings",
        params={"plate": "皖S·12345", "start": NOON - 10, "end": NOON + 3600, "case": CASE},
        headers=police,
    )
    assert r.status_code == 200, r.text
    assert [s["camera_id"] for s in r.json()] == ["junction-east", "junction-west", "school-gate"]
    # A wall operator without the investigator role may not search: refused and audited.
    forestry = await api.login("forestry")
    r = await api.client.get(
        "/api/sightings",
        params={"plate": "皖S12345", "start": NOON, "end": NOON + 60, "case": CASE},
        headers=forestry,
    )
    assert r.status_code == 403
    admin = await api.login("admin")
    audit = (await api.client.get("/api/audit", headers=admin)).json()
    entries = audit["entries"] if isinstance(audit, dict) else audit
    searches = [e for e in entries if e["action"] == "search.plate"]
    assert searches and searches[-1]["detail"]["results"] == 3
    assert any(e["outcome"] == "denied" and e["actor"] == "forestry" for e in entries)


@pytest.fixture(params=["sqlite", "postgresql"])
async def api_on_both(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str
) -> AsyncIterator[Harness]:
    url = None if request.param == "sqlite" else request.getfixturevalue("database_url_postgresql")
    async with harness(tmp_path, redis_url, url, start_services=False) as h:
        yield h


async def test_a_misread_plate_is_found_when_asked_to_forgive_ocr(api_on_both: Harness) -> None:
    api = api_on_both
    engine = api.runtime.sessions.kw["bind"]
    assert isinstance(engine, Engine)
    misread = seen("junction-west", NOON + 60, 2, "皖SI2345")  # 1 read as I
    store_sightings(
        engine,
        [
            seen("junction-east", NOON, 1),  # read right
            misread,
            seen("school-gate", NOON + 120, 3, "苏S12845"),  # another province, 3 read as 8
            seen("plaza-north", NOON + 180, 4, "皖S99999"),  # another car
        ],
    )
    store_sightings(engine, [misread])  # a retry: stored once, indexed once
    police = await api.login("police-wall")

    async def search(plate: str, **extra: object) -> list[str]:
        params = {"plate": plate, "start": NOON - 10, "end": NOON + 3600, "case": CASE, **extra}
        r = await api.client.get("/api/sightings", params=params, headers=police)
        assert r.status_code == 200, r.text
        return [s["camera_id"] for s in r.json()]

    assert await search("皖S·12345") == ["junction-east"]  # exact by default
    fuzzy = ["junction-east", "junction-west", "school-gate"]
    assert await search("皖S·12345", fuzzy="true") == fuzzy  # once each, in time order
    assert await search("S1234", fuzzy="true") == ["junction-east", "junction-west"]  # partial
    r = await api.client.get(
        "/api/sightings",
        params={"plate": "S1234", "start": NOON, "end": NOON + 60, "case": CASE},
        headers=police,
    )
    assert r.status_code == 422  # a partial reading only with fuzzy


async def test_bad_plate_is_a_clear_422(api: Harness) -> None:
    police = await api.login("police-wall")
    r = await api.client.get(
        "/api/sightings",
        params={"plate": "hello", "start": NOON, "end": NOON, "case": CASE},
        headers=police,
    )
    assert r.status_code == 422 and "plate" in r.text


async def test_person_search_by_watchlist_match_within_scope(
    tmp_path: Path, redis_url: str
) -> None:
    # Tourism's scope has the plaza, not the school gate.
    inv = DemoUser("tourism-inv", "tourism-inv-pass", "tourism", (Role.INVESTIGATOR,))
    async with harness(tmp_path, redis_url, start_services=False, users=[*DEMO_USERS, inv]) as api:
        engine = api.runtime.sessions.kw["bind"]
        assert isinstance(engine, Engine)
        person = [
            seen(cam, NOON + dt, track).model_copy(update={"plate": None, "face_match": "p-17"})
            for cam, dt, track in [("plaza-north", 60, 4), ("school-gate", 0, 5)]
        ]
        other = seen("plaza-south", NOON, 6).model_copy(update={"face_match": "p-99"})
        store_sightings(engine, [*person, other])
        params: dict[str, str | float] = {
            "person": "p-17",
            "start": NOON - 10,
            "end": NOON + 3600,
            "case": CASE,
        }
        police = await api.login("police-wall")
        r = await api.client.get("/api/sightings", params=params, headers=police)
        assert r.status_code == 200, r.text
        assert [s["camera_id"] for s in r.json()] == ["school-gate", "plaza-north"]
        tourism = await api.login("tourism-inv")
        r = await api.client.get("/api/sightings", params=params, headers=tourism)
        assert r.status_code == 200, r.text
        assert [s["camera_id"] for s in r.json()] == ["plaza-north"]
        r = await api.client.get(
            "/api/sightings", params=params, headers=await api.login("forestry")
        )
        assert r.status_code == 403  # a wall operator may not search
        r = await api.client.get(
            "/api/sightings", params={**params, "plate": "皖S12345"}, headers=police
        )
        assert r.status_code == 422  # one of plate or person
        admin = await api.login("admin")
        body = (await api.client.get("/api/audit", headers=admin)).json()
        entries = body["entries"] if isinstance(body, dict) else body
        searches = [e for e in entries if e["action"] == "search.person"]
        by = {e["actor"]: e["detail"] for e in searches if e["outcome"] == "ok"}
        assert by["police-wall"]["results"] == 2 and by["police-wall"]["withheld"] == 0
        assert by["tourism-inv"]["results"] == 1 and by["tourism-inv"]["withheld"] == 1


async def test_an_area_on_the_map_narrows_the_search_to_its_cameras(api: Harness) -> None:
    engine = api.runtime.sessions.kw["bind"]
    assert isinstance(engine, Engine)
    store_sightings(
        engine,
        [
            seen("junction-east", NOON, 1),
            seen("junction-west", NOON + 60, 2),  # 127 m from junction-east
            seen("school-gate", NOON + 120, 3),  # 7 km away
        ],
    )
    police = await api.login("police-wall")

    async def search(**where: str) -> list[str]:
        params = {
            "plate": "皖S12345",
            "start": NOON - 10,
            "end": NOON + 3600,
            "case": CASE,
            **where,
        }
        r = await api.client.get("/api/sightings", params=params, headers=police)
        assert r.status_code == 200, r.text
        return [s["camera_id"] for s in r.json()]

    assert await search(near="31.8608,117.2891,500") == ["junction-east", "junction-west"]
    assert await search(near="31.8608,117.2891,50") == ["junction-east"]
    school = "31.825,117.213;31.828,117.213;31.828,117.217;31.825,117.217"
    assert await search(area=school) == ["school-gate"]
    assert await search(area=school, near="31.8608,117.2891,500") == []  # inside both: none
    for bad in ({"near": "31.8,117.2"}, {"near": "31.8,117.2,-5"}, {"area": "31.8,117.2;31.9,117"}):
        r = await api.client.get(
            "/api/sightings",
            params={"plate": "皖S12345", "start": NOON, "end": NOON + 60, "case": CASE, **bad},
            headers=police,
        )
        assert r.status_code == 422, (bad, r.text)
    admin = await api.login("admin")
    audit = (await api.client.get("/api/audit", headers=admin)).json()
    entries = audit["entries"] if isinstance(audit, dict) else audit
    areas = {
        (d.get("near"), d.get("area"), d.get("area_cameras"))
        for e in entries
        if e["action"] == "search.plate" and (d := e["detail"]).get("area")
    }
    # The school's polygon holds three cameras (gate, yard, canteen); with the junction's
    # circle as well, none.
    assert areas == {(None, school, 3), ("31.8608,117.2891,500", school, 0)}


async def test_a_search_names_its_case(api: Harness) -> None:
    police = await api.login("police-wall")
    base = {"plate": "皖S12345", "start": NOON, "end": NOON + 60}
    for case in (None, "", "bad\ncase"):
        params = base if case is None else {**base, "case": case}
        r = await api.client.get("/api/sightings", params=params, headers=police)
        assert r.status_code == 422 and "case" in r.text, (case, r.text)
    r = await api.client.get(
        "/api/sightings", params={**base, "case": "HF-2026-0042"}, headers=police
    )
    assert r.status_code == 200


async def test_results_export_as_csv_for_the_case_file(api: Harness) -> None:
    import csv
    import io

    engine = api.runtime.sessions.kw["bind"]
    assert isinstance(engine, Engine)
    store_sightings(engine, [seen("junction-west", NOON + 60, 2), seen("junction-east", NOON, 1)])
    police = await api.login("police-wall")
    params = {
        "plate": "皖S12345",
        "start": NOON - 10,
        "end": NOON + 3600,
        "case": "HF-2026/0042",
        "format": "csv",
    }
    r = await api.client.get("/api/sightings", params=params, headers=police)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="sightings-HF-2026_0042.csv"' in r.headers["content-disposition"]
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff")  # spreadsheets read the plate's 皖 as UTF-8
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [(x["camera_id"], x["plate"]) for x in rows] == [
        ("junction-east", "皖S12345"),
        ("junction-west", "皖S12345"),
    ]
    assert rows[0]["camera_name"] and rows[0]["first_seen_utc"].endswith(":00")
    assert "face_embedding" not in text


def test_a_cell_that_a_spreadsheet_would_run_is_quoted() -> None:
    from command_api.search_export import _cell

    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _cell("-1+2") == "'-1+2"
    assert _cell("-122.42") == "-122.42"  # a western longitude stays a number
    assert _cell("皖S12345") == "皖S12345" and _cell(None) == ""


async def test_what_it_looked_like_finds_it_without_a_plate(api_on_both: Harness) -> None:
    api = api_on_both
    engine = api.runtime.sessions.kw["bind"]
    assert isinstance(engine, Engine)

    def looked(camera: str, at: float, track: int, cls: str, **looks: str) -> Sighting:
        return seen(camera, at, track).model_copy(
            update={"class_name": cls, "plate": None, "attributes": looks}
        )

    store_sightings(
        engine,
        [
            looked("school-gate", NOON, 1, "car", color="white"),
            looked("junction-east", NOON + 60, 2, "car", color="white"),
            looked("junction-east", NOON + 90, 3, "bus", color="white"),
            looked("junction-west", NOON + 120, 4, "car", color="red"),
            looked("school-gate", NOON + 150, 5, "person", upper_color="red", lower_color="black"),
        ],
    )
    police = await api.login("police-wall")

    async def search(**where: str) -> list[tuple[str, str]]:
        params = {"start": NOON - 10, "end": NOON + 3600, "case": CASE, **where}
        r = await api.client.get("/api/sightings", params=params, headers=police)
        assert r.status_code == 200, r.text
        return [(s["camera_id"], s["class_name"]) for s in r.json()]

    white_cars = [("school-gate", "car"), ("junction-east", "car")]
    assert await search(**{"class": "car", "color": "white"}) == white_cars
    assert len(await search(color="white")) == 3  # the bus too
    near_school = "31.8262,117.2148,300"
    assert await search(**{"class": "car", "color": "white", "near": near_school}) == white_cars[:1]
    assert await search(upper_color="red", lower_color="black") == [("school-gate", "person")]
    assert await search(upper_color="red", lower_color="blue") == []
    r = await api.client.get(
        "/api/sightings",
        params={"start": NOON, "end": NOON + 60, "case": CASE, "color": "mauve"},
        headers=police,
    )
    assert r.status_code == 422
