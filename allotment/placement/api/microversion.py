"""Microversions of the placement API, one line each on what they added.

Negotiated from ``OpenStack-API-Version: placement X.Y`` (``latest`` allowed) by
the microversion-parse library, so parsing matches upstream exactly.
"""

from __future__ import annotations

from typing import Any

import microversion_parse

__all__ = ["MAX_VERSION", "MIN_VERSION", "SERVICE_TYPE", "VERSIONS", "negotiate"]

SERVICE_TYPE = "placement"

VERSIONS = [
    "1.0",
    "1.1",  # provider aggregates: GET/PUT /resource_providers/{uuid}/aggregates
    "1.2",  # /resource_classes
    "1.3",  # member_of filter on GET /resource_providers
    "1.4",  # resources filter on GET /resource_providers
    "1.5",  # DELETE /resource_providers/{uuid}/inventories
    "1.6",  # /traits and provider traits
    "1.7",  # PUT /resource_classes/{name} creates without a body
    "1.8",  # project_id and user_id required in PUT /allocations
    "1.9",  # GET /usages
    "1.10",  # GET /allocation_candidates
    "1.11",  # 'allocations' link on providers
    "1.12",  # dict form of allocations in PUT /allocations and candidates
    "1.13",  # POST /allocations for many consumers
    "1.14",  # nested providers: parent/root uuids, in_tree filter
    "1.15",  # last-modified and cache-control headers
    "1.16",  # limit on GET /allocation_candidates
    "1.17",  # required traits on candidates; traits in provider summaries
    "1.18",  # required traits on GET /resource_providers
    "1.19",  # generation in provider aggregates, with conflict detection
    "1.20",  # POST /resource_providers returns the provider
    "1.21",  # member_of=in: on candidates
    "1.22",  # forbidden traits (!TRAIT)
    "1.23",  # error codes in error responses
    "1.24",  # repeated member_of on GET /resource_providers
    "1.25",  # granular request groups on candidates
    "1.26",  # reserved may equal total
    "1.27",  # all inventory classes in provider summaries
    "1.28",  # consumer generations
    "1.29",  # nested providers in candidates
    "1.30",  # POST /reshaper
    "1.31",  # in_tree on candidates
    "1.32",  # forbidden aggregates (!member_of)
    "1.33",  # string suffixes on request groups
    "1.34",  # mappings in allocation requests
    "1.35",  # root_required on candidates
    "1.36",  # same_subtree and resourceless groups
    "1.37",  # re-parenting and un-parenting providers
    "1.38",  # consumer types
    "1.39",  # any-of traits (required=in:A,B)
]
MIN_VERSION = VERSIONS[0]
MAX_VERSION = VERSIONS[-1]


def negotiate(environ: dict[str, Any]) -> microversion_parse.Version:
    """The version the request asks for; ValueError (406) or TypeError (400) when it cannot be had."""
    header = environ.get("HTTP_OPENSTACK_API_VERSION")
    headers = {"openstack-api-version": header} if header is not None else {}
    return microversion_parse.extract_version(headers, SERVICE_TYPE, VERSIONS)
