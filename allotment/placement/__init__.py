"""Placement: resource providers, inventories, traits, aggregates, consumers and allocations.

This package imports nothing from the rest of allotment; everything else reaches it
through ``allotment.client``.
"""
