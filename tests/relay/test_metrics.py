"""The relay's Prometheus endpoint and its session cap, against a real relay and camera."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.relay_load import CountingViewer
from tests.fixtures_fleet import Fleet
from tests.relay.fixtures_relay import RelayHandle, eventually

pytestmark = pytest.mark.integration

SERIES = {
    "sharpeye_relay_sessions",
    "sharpeye_relay_upstreams",
    "sharpeye_relay_rtp_packets_sent",
    "sharpeye_relay_rtp_bytes_sent",
    "sharpeye_relay_frames_dropped",
    "sharpeye_relay_nack_retransmits",
    "sharpeye_relay_upstream_reconnects",
    "sharpeye_relay_queued_frames",
    "sharpeye_relay_gop_cache_frames",
    "sharpeye_relay_rtx_history_packets",
}


async def test_metrics_count_viewers_and_traffic_and_the_cap_refuses_more(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    relay = relay_factory(fleet, SHARPEYE_RELAY_MAX_SESSIONS=1)
    url, token = relay.whep("cam1"), relay.token("cam1")
    async with httpx.AsyncClient(timeout=30) as client:
        idle = await client.get(f"{relay.url}/metrics")
        assert idle.status_code == 200
        assert idle.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(idle.text)}
        assert families.keys() >= SERIES
        assert "process_resident_memory_bytes" in families  # the soak's RSS, scraped
        assert families["sharpeye_relay_sessions"].samples[0].value == 0

        viewer = CountingViewer()
        try:
            await viewer.whep(client, url, token)
            await eventually(lambda: viewer.packets >= 100, timeout=30)
            # A second viewer on this worker: over the cap, a 503 to retry later.
            extra = CountingViewer()
            try:
                with pytest.raises(httpx.HTTPStatusError) as refused:
                    await extra.whep(client, url, token)
                assert refused.value.response.status_code == 503
                assert refused.value.response.headers["retry-after"]
            finally:
                await extra.close()
            text = (await client.get(f"{relay.url}/metrics")).text
            values = {
                s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            }
            assert values["sharpeye_relay_sessions"] == 1
            assert values["sharpeye_relay_upstreams"] == 1
            # Counted by the relay before the viewer counted what it received.
            assert values["sharpeye_relay_rtp_packets_sent_total"] >= viewer.packets >= 100
            assert values["sharpeye_relay_rtp_bytes_sent_total"] > viewer.bytes
            assert values["sharpeye_relay_sessions_started_total"] == 1
            # Totals only: which cameras are watched is not in the metrics.
            assert "cam1" not in text and fleet.clip not in text
        finally:
            await viewer.close()
