"""The route table: URL template -> {HTTP method: handler}. 404 and 405 come from the dispatcher."""

from __future__ import annotations

from collections.abc import Callable

from allotment.placement.api.handlers import (
    aggregate,
    allocation,
    allocation_candidate,
    inventory,
    provider_graph,
    reshaper,
    resource_class,
    resource_provider,
    root,
    trait,
    usage,
)
from allotment.placement.api.http import Request, Response

__all__ = ["ROUTES"]

ROUTES: dict[str, dict[str, Callable[[Request], Response]]] = {
    "/": {"GET": root.home},
    "/openapi.json": {"GET": root.openapi},
    "/resource_classes": {
        "GET": resource_class.list_resource_classes,
        "POST": resource_class.create_resource_class,
    },
    "/resource_classes/{name}": {
        "GET": resource_class.get_resource_class,
        "PUT": resource_class.update_resource_class,
        "DELETE": resource_class.delete_resource_class,
    },
    "/resource_providers": {
        "GET": resource_provider.list_resource_providers,
        "POST": resource_provider.create_resource_provider,
    },
    "/resource_providers/{uuid}": {
        "GET": resource_provider.get_resource_provider,
        "DELETE": resource_provider.delete_resource_provider,
        "PUT": resource_provider.update_resource_provider,
    },
    "/resource_providers/{uuid}/inventories": {
        "GET": inventory.get_inventories,
        "POST": inventory.create_inventory,
        "PUT": inventory.set_inventories,
        "DELETE": inventory.delete_inventories,
    },
    "/resource_providers/{uuid}/inventories/{resource_class}": {
        "GET": inventory.get_inventory,
        "PUT": inventory.update_inventory,
        "DELETE": inventory.delete_inventory,
    },
    "/resource_providers/{uuid}/usages": {"GET": usage.list_usages},
    "/resource_providers/{uuid}/aggregates": {
        "GET": aggregate.get_aggregates,
        "PUT": aggregate.set_aggregates,
    },
    "/resource_providers/{uuid}/allocations": {"GET": allocation.list_for_resource_provider},
    "/allocations": {"POST": allocation.set_allocations},
    "/allocations/{consumer_uuid}": {
        "GET": allocation.list_for_consumer,
        "PUT": allocation.set_allocations_for_consumer,
        "DELETE": allocation.delete_allocations,
    },
    "/traits": {"GET": trait.list_traits},
    "/traits/{name}": {
        "GET": trait.get_trait,
        "PUT": trait.put_trait,
        "DELETE": trait.delete_trait,
    },
    "/resource_providers/{uuid}/traits": {
        "GET": trait.list_traits_for_resource_provider,
        "PUT": trait.update_traits_for_resource_provider,
        "DELETE": trait.delete_traits_for_resource_provider,
    },
    "/usages": {"GET": usage.get_total_usages},
    "/reshaper": {"POST": reshaper.reshape},
    "/allocation_candidates": {"GET": allocation_candidate.list_allocation_candidates},
    # allotment's own extension (handlers/provider_graph.py): not an upstream route.
    "/provider_graph": {"GET": provider_graph.show_provider_graph},
}
