"""Handler for GET /allocation_candidates (from 1.10).

Response shapes by microversion: ``allocation_requests`` is a list of
``{"allocations": [{"resource_provider": {"uuid"}, "resources"}]}`` before 1.12
and ``{"allocations": {uuid: {"resources"}}}`` from 1.12, with ``mappings``
(request group suffix -> provider uuids) from 1.34. ``provider_summaries`` maps
provider uuid to ``resources`` (capacity and used of the requested classes; of
every class from 1.27), ``traits`` from 1.17 and ``parent_provider_uuid`` /
``root_provider_uuid`` from 1.29. last-modified and cache-control from 1.15.

The answer comes from the worker's in-memory read model (owned by the app, so one
per worker process, and refreshed from the change log before every query).
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import orjson

from allotment.placement.api import metrics
from allotment.placement.api.candidates_query import parse_request
from allotment.placement.api.http import HTTPError, Request, Response
from allotment.placement.api.util import handler, set_last_modified
from allotment.placement.candidates.engine import SearchResult, search
from allotment.placement.candidates.errors import NoSuchResourceClass, NoSuchTrait
from allotment.placement.candidates.model import ProviderRecord, ReadModel
from allotment.placement.candidates.request import CandidateRequest

POLICY = "placement:allocation_candidates:list"

def _summary(
    model: ReadModel, rec: ProviderRecord, requested: frozenset[str] | None, traits: bool, nested: bool
) -> bytes:
    """``"uuid": {...}`` of one provider summary, cached on the (immutable) record per response shape."""
    key = (requested, traits, nested)
    cached = rec.cache.get(key)
    if cached is not None:
        return cached
    out: dict[str, Any] = {
        "resources": {
            rc: {"capacity": inv.capacity, "used": rec.used.get(rc, 0)}
            for rc, inv in rec.inv.items()
            if requested is None or rc in requested
        }
    }
    if traits:
        out["traits"] = list(rec.trait_list)
    if nested:
        provs = model.providers
        parent = provs.get(rec.parent_id) if rec.parent_id is not None else None
        root = provs.get(rec.root_id)
        out["parent_provider_uuid"] = parent.uuid if parent is not None else None
        out["root_provider_uuid"] = root.uuid if root is not None else rec.uuid
    fragment = orjson.dumps({rec.uuid: out})[1:-1]
    if len(rec.cache) > 32:
        rec.cache.clear()
    rec.cache[key] = fragment
    return fragment


def _single_pieces(tpl: Any, with_mappings: bool) -> list[str]:
    """The allocation request of a one-provider candidate as text pieces; ``uuid.join(pieces)`` fills it in.

    Safe to build as text: uuids, suffixes and class names are JSON-safe by their patterns.
    """
    resources = orjson.dumps({"resources": dict(tpl.totals)}).decode()
    pieces = ['{"allocations":{"', '":' + resources + "}"]
    if with_mappings:
        for i, suffix in enumerate(tpl.suffixes):
            pieces[-1] += (',"mappings":{' if i == 0 else ",") + f'"{suffix}":["'
            pieces.append('"]')
        pieces[-1] += "}"
    pieces[-1] += "}"
    return pieces


def _body(req: Request, model: ReadModel, creq: CandidateRequest, result: SearchResult) -> bytes:
    """The response body, as JSON bytes."""
    version = req.version
    requests: list[str] = []
    dumps = orjson.dumps
    if version.matches((1, 12)):
        with_mappings = version.matches((1, 34))
        last_template: Any = None
        pieces: list[str] = []
        for cand in result.candidates:
            rec = cand.single
            if rec is not None:
                if cand.template is not last_template:
                    last_template = cand.template
                    pieces = _single_pieces(last_template, with_mappings)
                requests.append(rec.uuid.join(pieces))
                continue
            allocations: dict[str, dict[str, dict[str, int]]] = {}
            for rec, rc, amount in cand.parts:
                res = allocations.get(rec.uuid)
                if res is None:
                    res = allocations[rec.uuid] = {"resources": {}}
                res["resources"][rc] = amount
            item: dict[str, Any] = {"allocations": allocations}
            if with_mappings:
                item["mappings"] = {s: [r.uuid for r in recs] for s, recs in cand.mappings.items()}
            requests.append(dumps(item).decode())
    else:
        for cand in result.candidates:
            by_rp: dict[str, dict[str, int]] = {}
            for rec, rc, amount in cand.parts:
                by_rp.setdefault(rec.uuid, {})[rc] = amount
            requests.append(
                dumps(
                    {
                        "allocations": [
                            {"resource_provider": {"uuid": uuid}, "resources": res} for uuid, res in by_rp.items()
                        ]
                    }
                ).decode()
            )
    requested = None if version.matches((1, 27)) else frozenset(creq.requested_classes())
    traits = version.matches((1, 17))
    nested = version.matches((1, 29))
    key = (requested, traits, nested)
    summaries = []
    for rec in result.summaries:
        fragment = rec.cache.get(key)
        if fragment is None:
            fragment = _summary(model, rec, requested, traits, nested)
        summaries.append(fragment)
    return b"".join(
        (
            b'{"allocation_requests":[',
            ",".join(requests).encode(),
            b'],"provider_summaries":{',
            b",".join(summaries),
            b"}}",
        )
    )


def _refresh(model: ReadModel) -> None:
    """Catch the read model up with the database, timed for /metrics."""
    full, seen = model.full_loads, model.hwm
    started = perf_counter()
    model.refresh()
    kind = "full" if model.full_loads != full else "incremental" if model.hwm != seen else "current"
    metrics.observe_refresh(kind, perf_counter() - started, max(model.hwm - seen, 0))


@handler(min_version="1.10", accept_json=True)
def list_allocation_candidates(req: Request) -> Response:
    req.context.can(POLICY)
    creq = parse_request(req)
    model: ReadModel = req.app.read_model
    _refresh(model)
    known_classes = model.existing_classes(creq.requested_classes())
    trait_names = set(creq.root_required) | set(creq.root_forbidden)
    for group in creq.groups:
        trait_names |= group.forbidden
        for any_of in group.required:
            trait_names |= any_of
    known_traits = model.existing_traits(trait_names)
    config = req.app.config
    cap = config.candidates_answer_cap
    capped = cap > 0 and (creq.limit is None or creq.limit > cap)
    if capped:
        creq.limit = cap  # generation stops there: memory stays bounded whatever the request multiplies to
    with model.lock:
        try:
            result = search(
                model,
                creq,
                known_classes=known_classes,
                known_traits=known_traits,
                nested_aware=req.version.matches((1, 29)),
                max_candidates=config.max_allocation_candidates,
                strategy=config.allocation_candidates_generation_strategy,
            )
        except NoSuchResourceClass as exc:
            raise HTTPError(400, f"Invalid resource class in resources parameter: {exc}") from None
        except NoSuchTrait as exc:
            raise HTTPError(400, str(exc)) from None
        body = _body(req, model, creq, result)
    metrics.observe_candidates(f"{req.version.major}.{req.version.minor}", len(result.candidates))
    headers = [("content-type", "application/json")]
    if capped and len(result.candidates) >= cap:
        headers.append(("warning", f'299 allotment "allocation candidates cut at {cap} (candidates_answer_cap); '
                                   'the request matches more: narrow it or page with limit"'))
    return set_last_modified(req, Response(200, body, headers), None)
