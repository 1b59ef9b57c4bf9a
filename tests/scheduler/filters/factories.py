"""Small builders for HostState / RequestSpec objects in filter and weigher tests."""

from __future__ import annotations

from typing import Any

from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.host_state import AggregateInfo, HostState, InstanceInfo
from allotment.scheduler.spec import Flavor, Image, RequestSpec


def host(name: str = "h1", *, instances: list[str] | None = None, aggregates: list[dict[str, str]] | None = None,
         **fields: Any) -> HostState:
    """A host; ``instances`` are uuids, ``aggregates`` one metadata dict per aggregate."""
    state = HostState(host=name, nodename=name, uuid=f"rp-{name}", **fields)
    for uuid in instances or []:
        state.instances[uuid] = InstanceInfo(uuid=uuid)
    for i, metadata in enumerate(aggregates or []):
        state.aggregates.append(AggregateInfo(uuid=f"agg-{name}-{i}", name=f"agg{i}", metadata=metadata))
    return state


def spec(*, extra_specs: dict[str, str] | None = None, image_props: dict[str, str] | None = None,
         image_id: str | None = None, **fields: Any) -> RequestSpec:
    return RequestSpec(
        flavor=Flavor(name="m1", vcpus=1, memory_mb=512, extra_specs=extra_specs or {}),
        image=Image(id=image_id, properties=image_props or {}),
        **fields,
    )


def config(**options: Any) -> SchedulerConfig:
    return SchedulerConfig(**options)
