"""schemathesis against the OpenAPI document of a real `sharpeye api` process: generated
requests (valid and invalid) to every operation, as an administrator, never get a 5xx."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.command_api.harness import DEMO_REGISTRY, running_api

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN = "admin:fuzz-admin-pass"


@pytest.fixture(scope="module")
def api_base(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fuzz")
    shutil.copy(DEMO_REGISTRY, tmp / "camera_registry.yaml")
    with running_api(tmp, redis_server, SHARPEYE_BOOTSTRAP_ADMIN=ADMIN) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def api_schema(api_base: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_base}/openapi.json")


@pytest.fixture(scope="module")
def admin_headers(api_base: str) -> dict[str, str]:
    user, _, password = ADMIN.partition(":")
    r = httpx.post(f"{api_base}/api/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_no_server_error(
    api_schema: schemathesis.BaseSchema, admin_headers: dict[str, str]
) -> None:
    # Driven through hypothesis directly: schemathesis' pytest plugin predates pytest 9.
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: schemathesis.Case) -> None:
            headers = {**admin_headers, **(case.headers or {})}
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            run()
        except Exception as e:
            failures.append(f"{operation.label}: {str(e)[:2000]}")
    assert operations >= 25
    assert not failures, "\n\n".join(failures)
