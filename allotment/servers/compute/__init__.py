"""The compute agent (``ComputeAgent``), its driver seam (``Driver``, ``FakeDriver``) and inventory files."""

from allotment.servers.compute.agent import ComputeAgent
from allotment.servers.compute.driver import BuildFailed, Driver, FakeDriver
from allotment.servers.compute.inventory import HostInventory, load_inventory

__all__ = ["BuildFailed", "ComputeAgent", "Driver", "FakeDriver", "HostInventory", "load_inventory"]
