"""Fixtures shared by the ingest tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.fixtures_fleet import Fleet, free_port, stop_and_check


@pytest.fixture(scope="package")
def port_and_fleet(tmp_path_factory: pytest.TempPathFactory, footage: Any) -> Iterator[Fleet]:
    port = free_port()
    reg = tmp_path_factory.mktemp("fleet") / "mounts.yaml"
    urls = [f"rtsp://127.0.0.1:{port}/sim/vtest-360p/w{i}" for i in range(4)]
    reg.write_text(yaml.safe_dump({"cameras": [{"streams": {"main": u}} for u in urls]}))
    f = Fleet(cameras=0, registry=reg, port=port).start()
    yield f
    stop_and_check(f)
