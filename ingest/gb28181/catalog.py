"""Putting a device's catalog together from its Response MESSAGEs.

A device answers one Catalog query with `SumNum` items spread over several messages (each a
`DeviceList` of a few), all carrying the query's SN; messages may arrive out of order and,
over UDP, twice. Items are keyed by their ID, so a repeated message changes nothing, and the
catalog is complete when every one of `SumNum` distinct items has arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from camera.gb28181.manscdp import CatalogItem, CatalogResponse
from sharpeye.contracts.gb28181 import GbChannel


@dataclass
class CatalogAssembly:
    device_id: str
    sn: int
    sum_num: int
    started: float
    items: dict[str, CatalogItem] = field(default_factory=dict)

    def add(self, response: CatalogResponse) -> list[CatalogItem]:
        """Take one message; returns its items (new or changed ones)."""
        # A device may revise SumNum (its catalog changed mid-answer): the last word counts.
        self.sum_num = response.sum_num
        for item in response.items:
            self.items[item.device_id] = item
        return list(response.items)

    @property
    def complete(self) -> bool:
        return len(self.items) >= self.sum_num


def channel_of(item: CatalogItem, device_id: str, now: float) -> GbChannel:
    return GbChannel(
        channel_id=item.device_id,
        device_id=device_id,
        name=item.name,
        kind=item.kind,
        manufacturer=item.manufacturer,
        model=item.model,
        status=item.status,
        parent_id=item.parent_id,
        civil_code=item.civil_code,
        address=item.address,
        longitude=item.longitude,
        latitude=item.latitude,
        updated_at=now,
    )
