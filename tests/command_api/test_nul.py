"""A NUL character in a path, query or JSON body is a 422 on both stores, never a 500.

CI's schemathesis run found `GET /api/deliveries?destination=p%00…` answered 500 on
PostgreSQL (its text cannot hold U+0000) where SQLite matched nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from command_api.nul import MESSAGE
from tests.command_api.harness import harness

pytestmark = pytest.mark.integration


async def test_nul_is_refused_on_both_stores(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    async with harness(tmp_path, redis_url, database_url) as api:
        admin = await api.login("admin")
        for url, where in (
            ("/api/deliveries?destination=p%00ZeV&state=failed", "query"),
            ("/api/audit?actor=a%00b", "query"),
            ("/api/cameras/plaza%00north", "path"),
        ):
            r = await api.client.get(url, headers=admin)
            assert r.status_code == 422, (url, r.status_code, r.text)
            # FastAPI's own 422 shape, which the OpenAPI document promises.
            assert r.json() == {"detail": [{"loc": [where], "msg": MESSAGE, "type": "value_error"}]}

        # In a JSON body: refused before the route, so nothing was half written.
        user = {
            "username": "nul-user",
            "display_name": "Duty\u0000Officer",
            "password": "a-long-enough-password",
            "department": "police",
            "roles": ["wall_operator"],
        }
        r = await api.client.post("/api/users", json=user, headers=admin)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body"]
        r = await api.client.get("/api/users", headers=admin)
        assert "nul-user" not in r.text

        # The same body without the NUL, and an escaped backslash before "u0000", are fine.
        user["display_name"] = "Duty \\u0000 Officer"
        r = await api.client.post("/api/users", json=user, headers=admin)
        assert r.status_code == 201, r.text
        # The ordinary filters still work.
        r = await api.client.get("/api/deliveries?destination=pager", headers=admin)
        assert r.status_code == 200, r.text
