"""IsolatedHostsFilter: isolated images run only on isolated hosts (and, optionally, only they do)."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["IsolatedHostsFilter"]


class IsolatedHostsFilter(HostFilter):
    """Config ``isolated_images`` (image ids) and ``isolated_hosts`` (host names).

    An isolated image needs an isolated host. With ``restrict_isolated_hosts_to_isolated_images``
    an isolated host also refuses every other image (including image-less boots).
    """

    run_filter_once_per_request: ClassVar[bool] = True

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        host_isolated = host.host in self.config.isolated_hosts
        image_isolated = spec.image.id is not None and spec.image.id in self.config.isolated_images
        if self.config.restrict_isolated_hosts_to_isolated_images:
            return image_isolated == host_isolated
        return host_isolated or not image_isolated
