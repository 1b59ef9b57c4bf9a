"""Placement: resource providers, inventories, traits, aggregates, consumers and allocations.

This package imports nothing from the rest of allotment but ``allotment.infra`` (database
engines, upgrades, request ids), so the two lift out together; everything else reaches
placement through ``allotment.client``.
"""
