"""The topics and methods of the servers flow (what goes over the transport), in one place.

To the conductor (topic ``conductor``)::

    schedule_and_build_instances {instances: [uuid], min_count, max_count}   from the API
    delete_server {instance}                                                   from the API
    migrate_server {instance, migration}        resize or cold migrate         from the API
    confirm_resize / revert_resize {instance, migration}                       from the API
    evacuate_server {instance, migration}                                      from the API
    build_done / build_failed {instance, host, reason?}                        from a compute
    resize_done / resize_failed {instance, migration, host, reason?}           from a compute
    rebuild_done / rebuild_failed {instance, migration, host, reason?}         from a compute
    compute_started {host}                                                     from a compute

To a compute (topic ``compute.<host>``)::

    build_and_run_instance {instance, flavor, image, host_list: [Selection dict], attempt}
    prep_resize {instance, migration, flavor, image}    build the guest here (resize, cold migrate)
    rebuild_instance {instance, migration, flavor, image}   evacuate onto this host
    destroy {instance}

Every payload is JSON. Delivery is at most once: the conductor's audit finds what a lost
message leaves behind (a server stuck in a task state, a half-done migration).
"""

from __future__ import annotations

from typing import Any

from allotment.servers.transport import Message, Transport

__all__ = ["CONDUCTOR_TOPIC", "cast", "compute_topic"]

CONDUCTOR_TOPIC = "conductor"


def compute_topic(host: str) -> str:
    return f"compute.{host}"


def cast(transport: Transport, topic: str, method: str, **payload: Any) -> None:
    transport.cast(topic, Message(method, payload))
