"""GET /capacity: how many instances of a flavor fit right now (``allotment.scheduler.capacity``).

    GET /capacity?vcpus=2&memory_mb=4096&root_gb=20&by=az
        [&ephemeral_gb=&swap=&extra_spec=KEY=VALUE ...&image_property=KEY=VALUE ...
         &availability_zone=&project_id=]

The flavor is given field by field (extra specs bring traits and granular groups); ``by``
is one of az, aggregate, cell, host. Bad input is a 400 ``scheduler.bad_request`` naming
the parameter; a flavor no query can be written for is 400 ``scheduler.invalid_request_spec``.
"""

from __future__ import annotations

from typing import Any

import falcon

from allotment.scheduler.api.errors import ApiError
from allotment.scheduler.api.media import write_json
from allotment.scheduler.api.resources.scheduling import answers
from allotment.scheduler.capacity import BY
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import Flavor, Image, RequestSpec

__all__ = ["Capacity", "PARAMETERS"]

_INTS = {"vcpus": 1, "memory_mb": 1, "root_gb": 0, "ephemeral_gb": 0, "swap": 0}  # name -> smallest value
PARAMETERS = (*_INTS, "extra_spec", "image_property", "availability_zone", "project_id", "by")
_MAX = 2**31 - 1


def _bad(detail: str) -> ApiError:
    return ApiError(400, detail, "scheduler.bad_request")


def _int(req: falcon.Request, name: str, default: int | None) -> int:
    raw = req.get_param(name)
    if raw is None:
        if default is None:
            raise _bad(f"{name}: required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"{name}: {raw!r} is not an integer") from None
    if not _INTS[name] <= value <= _MAX:
        raise _bad(f"{name}: must be between {_INTS[name]} and {_MAX}")
    return value


def _pairs(req: falcon.Request, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in req.get_param_as_list(name) or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _bad(f"{name}: {item!r} is not KEY=VALUE")
        out[key] = value
    return out


def spec_from_query(req: falcon.Request) -> tuple[RequestSpec, str | None]:
    unknown = sorted(set(req.params) - set(PARAMETERS))
    if unknown:
        raise _bad(f"unknown parameter {unknown[0]}; known: {', '.join(PARAMETERS)}")
    by = req.get_param("by")
    if by is not None and by not in BY:
        raise _bad(f"by: must be one of {', '.join(BY)}")
    flavor = Flavor(name="capacity", vcpus=_int(req, "vcpus", None), memory_mb=_int(req, "memory_mb", None),
                    root_gb=_int(req, "root_gb", 0), ephemeral_gb=_int(req, "ephemeral_gb", 0),
                    swap=_int(req, "swap", 0), extra_specs=_pairs(req, "extra_spec"))
    image = Image(properties=_pairs(req, "image_property"))
    project = req.get_param("project_id") or "capacity"
    spec = RequestSpec.from_flavor(flavor, image, project_id=project, user_id="capacity",
                                   availability_zone=req.get_param("availability_zone"))
    return spec, by


class Capacity:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        spec, by = spec_from_query(req)
        with answers():
            answer: dict[str, Any] = self.scheduler.capacity(spec, by=by).to_dict()
        write_json(resp, answer)
