"""The servers flow's records (instances, build requests, migrations, actions, faults) over one database."""

from allotment.servers.store.store import Migration, Server, ServerStore

__all__ = ["Migration", "Server", "ServerStore"]
