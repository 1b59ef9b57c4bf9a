"""Fixture data for the upstream Placement gabbit files, created over HTTP.

Every upstream gabbit file names a fixture class at its top (``fixtures:``).
Upstream's fixture classes write directly into the database through
Placement's object layer. Here each fixture is recreated purely through the
REST API so it works against any server that speaks the Placement API
(allotment or upstream itself). A fixture provides:

* ``environment()`` plus ``populate(api, env)``: the environment variables the
  gabbit file reads through ``$ENVIRON[...]`` (some names contain colons,
  e.g. ``compute3:br_ex2``) and the providers, inventories, traits,
  aggregates and allocations the file expects to find;
* ``server``: the server configuration the file is written for (policy
  mode, CORS), rendered either as upstream ini text or as allotment TOML.

Faithfulness rules (see /work/shared/reference/conformance-notes.md):

* Aggregates are written at microversion 1.18, which does not bump the
  provider generation (the upstream fixtures do not bump it either).
* Allocations are written at 1.37 (no consumer type), PUT
  /allocations/{consumer} in dict form, consumer_generation null.
* ``max_unit`` is always sent and defaults to ``total``.
* Writes happen in the same order as upstream's fixtures so provider
  generations end up identical.
"""

from __future__ import annotations

import functools
import json
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx

__all__ = [
    "FIXTURES",
    "Api",
    "FixtureError",
    "GabbitFixture",
    "ServerSettings",
    "fixture_for",
    "policy_rule_names",
]

# Microversions used for fixture writes.
MV_WRITE = "1.37"  # providers, inventories, traits, resource classes, allocations
MV_AGGREGATES = "1.18"  # last version whose aggregate PUT leaves the generation alone

CORS_ORIGIN = "http://valid.example.com"
CORS_ALLOW_HEADER = "openstack-api-version"


class FixtureError(RuntimeError):
    """The server refused a fixture write (so the file cannot run meaningfully)."""


def _new_uuid() -> str:
    return str(uuid.uuid4())


# --------------------------------------------------------------------------
# Server configuration implied by a fixture


@functools.lru_cache(maxsize=1)
def policy_rule_names() -> tuple[str, ...]:
    """Names of every policy rule upstream Placement registers.

    Read from the upstream package in its own virtualenv (the same one that
    runs gabbi), so the open-policy file always names exactly the rules the
    gabbit files were written against.
    """
    from allotment.bench.servers import ensure_upstream_venv

    venv = ensure_upstream_venv()
    code = "import json; from placement import policies; print(json.dumps([r.name for r in policies.list_rules()]))"
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], check=True, capture_output=True, text=True)
    return tuple(json.loads(out.stdout))


@dataclass(frozen=True)
class ServerSettings:
    """How the server must be configured for one gabbit file.

    ``policy`` is one of:

    * ``legacy``: the deprecated (pre secure-RBAC) defaults, i.e.
      ``enforce_new_defaults = False``; what upstream's base test fixture uses;
    * ``secure``: the new secure-RBAC defaults (``enforce_new_defaults = True``);
    * ``open``: legacy defaults with every rule except ``admin_api`` overridden
      to ``@`` (anyone with a token) through a policy file.

    Scope checking: upstream 16.0.0 runs on oslo.policy 6, which has no
    ``enforce_scope`` switch any more and always checks a rule's scope types,
    so allotment is configured with ``enforce_scope = true`` in every mode.
    """

    policy: str = "legacy"
    cors: bool = False

    def policy_overrides(self) -> dict[str, str]:
        if self.policy != "open":
            return {}
        return {name: "@" for name in policy_rule_names() if name != "admin_api"}

    def _write_policy_file(self, workdir: Path) -> Path | None:
        rules = self.policy_overrides()
        if not rules:
            return None
        path = workdir / "open-policy.yaml"
        # JSON is valid YAML; oslo.policy and allotment both read it.
        path.write_text("".join(f"{json.dumps(k)}: {json.dumps(v)}\n" for k, v in rules.items()))
        return path

    def upstream_ini(self, workdir: Path) -> str:
        """Extra ini text for upstream's placement.conf (``extra_conf``)."""
        lines = ["[oslo_policy]", f"enforce_new_defaults = {self.policy == 'secure'}"]
        policy_file = self._write_policy_file(workdir)
        if policy_file is not None:
            lines.append(f"policy_file = {policy_file}")
        if self.cors:
            lines += ["[cors]", f"allowed_origin = {CORS_ORIGIN}", f"allow_headers = {CORS_ALLOW_HEADER}"]
        return "\n".join(lines) + "\n"

    def allotment_toml(self, workdir: Path) -> str:
        """The TOML configuration file for ``allotment serve --config``."""
        lines = [
            "[policy]",
            f"enforce_new_defaults = {'true' if self.policy == 'secure' else 'false'}",
            "enforce_scope = true",
        ]
        policy_file = self._write_policy_file(workdir)
        if policy_file is not None:
            lines.append(f"file = {json.dumps(str(policy_file))}")
        if self.cors:
            lines += [
                "",
                "[cors]",
                f"allowed_origin = [{json.dumps(CORS_ORIGIN)}]",
                f"allow_headers = [{json.dumps(CORS_ALLOW_HEADER)}]",
            ]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# A tiny admin client for writing fixture data


class Api:
    """Admin-token HTTP client with the handful of writes the fixtures need."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.client = httpx.Client(
            base_url=base_url,
            headers={"x-auth-token": "admin", "accept": "application/json"},
            timeout=timeout,
        )
        self._known_rcs: set[str] = set()
        self._known_traits: set[str] = set()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        version: str = MV_WRITE,
        body: Any = None,
        ok: Iterable[int] = (200, 201, 204),
    ) -> httpx.Response:
        headers = {"openstack-api-version": f"placement {version}"}
        if body is not None:
            headers["content-type"] = "application/json"
        resp = self.client.request(
            method, path, headers=headers, content=None if body is None else json.dumps(body).encode()
        )
        if resp.status_code not in set(ok):
            raise FixtureError(
                f"{method} {path} (microversion {version}) -> {resp.status_code}: {resp.text[:500]}"
            )
        return resp

    def generation(self, rp: str) -> int:
        return int(self.call("GET", f"/resource_providers/{rp}").json()["generation"])

    # -- writes ----------------------------------------------------------

    def create_provider(self, name: str, *aggregates: str, uuid: str | None = None, parent: str | None = None) -> str:
        """Create a provider (optionally under ``parent``), then set its aggregates."""
        rp = uuid or _new_uuid()
        body: dict[str, Any] = {"name": name, "uuid": rp}
        if parent:
            body["parent_provider_uuid"] = parent
        self.call("POST", "/resource_providers", body=body)
        if aggregates:
            self.set_aggregates(rp, aggregates)
        return rp

    def set_aggregates(self, rp: str, aggregates: Iterable[str]) -> None:
        # 1.18: list body, no generation, no generation bump.
        self.call("PUT", f"/resource_providers/{rp}/aggregates", version=MV_AGGREGATES, body=list(aggregates))

    def ensure_resource_class(self, name: str) -> None:
        if not name.startswith("CUSTOM_") or name in self._known_rcs:
            return
        self.call("PUT", f"/resource_classes/{name}")
        self._known_rcs.add(name)

    def ensure_trait(self, name: str) -> None:
        if not name.startswith("CUSTOM_") or name in self._known_traits:
            return
        self.call("PUT", f"/traits/{name}")
        self._known_traits.add(name)

    def add_inventory(
        self,
        rp: str,
        resource_class: str,
        total: int,
        *,
        reserved: int | None = None,
        min_unit: int | None = None,
        max_unit: int | None = None,
        step_size: int | None = None,
        allocation_ratio: float | None = None,
    ) -> None:
        """Add one inventory record (bumps the provider generation once)."""
        self.ensure_resource_class(resource_class)
        body: dict[str, Any] = {
            "resource_class": resource_class,
            "total": total,
            "max_unit": total if max_unit is None else max_unit,
            "resource_provider_generation": self.generation(rp),
        }
        for key, value in (
            ("reserved", reserved),
            ("min_unit", min_unit),
            ("step_size", step_size),
            ("allocation_ratio", allocation_ratio),
        ):
            if value is not None:
                body[key] = value
        self.call("POST", f"/resource_providers/{rp}/inventories", body=body)

    def set_traits(self, rp: str, *traits: str) -> None:
        """Replace the provider's traits, creating custom ones as needed."""
        for name in traits:
            self.ensure_trait(name)
        body = {"traits": list(traits), "resource_provider_generation": self.generation(rp)}
        self.call("PUT", f"/resource_providers/{rp}/traits", body=body)

    def set_allocation(self, rp: str, consumer: str, resources: dict[str, int], *, project_id: str, user_id: str) -> None:
        """Give ``consumer`` (a new one) exactly ``resources`` on ``rp``."""
        body = {
            "allocations": {rp: {"resources": dict(resources)}},
            "project_id": project_id,
            "user_id": user_id,
            "consumer_generation": None,
        }
        self.call("PUT", f"/allocations/{consumer}", body=body)


# --------------------------------------------------------------------------
# Fixture classes (named as in the gabbit files)


class GabbitFixture:
    """Base: a fresh server with only the standard registry contents.

    Exports the variables every gabbit file may use: provider uuids and names
    that do not exist yet, custom resource class names, and project, user
    and consumer identifiers.
    """

    server = ServerSettings()

    def environment(self) -> dict[str, str]:
        env = {name: _new_uuid() for name in (
            "RP_UUID", "RP_NAME", "RP_UUID1", "RP_NAME1", "RP_UUID2", "RP_NAME2",
            "PROJECT_ID", "ADMIN_PROJECT_ID", "SERVICE_PROJECT_ID", "USER_ID",
            "PROJECT_ID_ALT", "USER_ID_ALT", "INSTANCE_UUID", "MIGRATION_UUID",
            "CONSUMER_UUID", "PARENT_PROVIDER_UUID", "ALT_PARENT_PROVIDER_UUID",
        )}
        env["CUSTOM_RES_CLASS"] = "CUSTOM_IRON_NFV"
        env["CUSTOM_RES_CLASS1"] = "CUSTOM_IRON_NFV1"
        env["CUSTOM_RES_CLASS2"] = "CUSTOM_IRON_NFV2"
        return env

    def populate(self, api: Api, env: dict[str, str]) -> None:
        """Write the fixture's data; add what it exports to ``env``."""

    def setup(self, base_url: str) -> dict[str, str]:
        """Populate the server at ``base_url``; return the environment for gabbi."""
        env = self.environment()
        with Api(base_url) as api:
            self.populate(api, env)
        return env


class APIFixture(GabbitFixture):
    pass


class LegacyRBACPolicyFixture(GabbitFixture):
    """Explicitly the deprecated policy defaults (same data as APIFixture)."""

    server = ServerSettings(policy="legacy")


class SecureRBACPolicyFixture(GabbitFixture):
    """The secure-RBAC policy defaults."""

    server = ServerSettings(policy="secure")


class OpenPolicyFixture(GabbitFixture):
    """Every rule except ``admin_api`` open to any authenticated caller."""

    server = ServerSettings(policy="open")


class CORSFixture(GabbitFixture):
    """CORS on, for one allowed origin and one allowed header."""

    server = ServerSettings(cors=True)


class AllocationFixture(GabbitFixture):
    """One provider (RP_UUID) with VCPU 10 and DISK_GB 2048, three consumers.

    * CONSUMER_0 (USER_ID/PROJECT_ID): DISK_GB 1000
    * CONSUMER_ID (USER_ID/PROJECT_ID): VCPU 6
    * ALT_CONSUMER_ID (ALT_USER_ID/PROJECT_ID): DISK_GB 20, VCPU 1
    ALT_RP_UUID/ALT_RP_NAME name a provider that is *not* created.
    """

    def populate(self, api: Api, env: dict[str, str]) -> None:
        env["ALT_USER_ID"] = _new_uuid()
        project, user, alt_user = env["PROJECT_ID"], env["USER_ID"], env["ALT_USER_ID"]
        rp = api.create_provider(env["RP_NAME"], uuid=env["RP_UUID"])
        api.add_inventory(rp, "DISK_GB", 2048, step_size=10, min_unit=10, max_unit=1000)
        api.add_inventory(rp, "VCPU", 10, max_unit=10)

        env["CONSUMER_0"] = _new_uuid()
        api.set_allocation(rp, env["CONSUMER_0"], {"DISK_GB": 1000}, project_id=project, user_id=user)
        env["CONSUMER_ID"] = _new_uuid()
        api.set_allocation(rp, env["CONSUMER_ID"], {"VCPU": 6}, project_id=project, user_id=user)
        env["ALT_CONSUMER_ID"] = _new_uuid()
        api.set_allocation(rp, env["ALT_CONSUMER_ID"], {"DISK_GB": 20, "VCPU": 1},
                           project_id=project, user_id=alt_user)

        env["ALT_RP_UUID"] = _new_uuid()
        env["ALT_RP_NAME"] = _new_uuid()


class SharedStorageFixture(GabbitFixture):
    """Two compute nodes and two sharing DISK_GB providers in one aggregate.

    cn1: VCPU 24 (x16), MEMORY_MB 131072 (x1.5), traits SSE+SSE2, no disk.
    cn2: VCPU 24 (x16), MEMORY_MB 131072 (x1.5), DISK_GB 2000 (reserved 100).
    ss, ss2: DISK_GB 2000 (reserved 100), MISC_SHARES_VIA_AGGREGATE.
    Each compute node has two NUMA children, each with one PF child
    offering SRIOV_NET_VF 8.
    """

    def populate(self, api: Api, env: dict[str, str]) -> None:
        agg = _new_uuid()
        cn1 = api.create_provider("cn1", agg)
        cn2 = api.create_provider("cn2", agg)
        ss = api.create_provider("ss", agg)
        ss2 = api.create_provider("ss2", agg)
        numa1_1 = api.create_provider("numa1_1", parent=cn1)
        numa1_2 = api.create_provider("numa1_2", parent=cn1)
        numa2_1 = api.create_provider("numa2_1", parent=cn2)
        numa2_2 = api.create_provider("numa2_2", parent=cn2)
        pf1_1 = api.create_provider("pf1_1", parent=numa1_1)
        pf1_2 = api.create_provider("pf1_2", parent=numa1_2)
        pf2_1 = api.create_provider("pf2_1", parent=numa2_1)
        pf2_2 = api.create_provider("pf2_2", parent=numa2_2)
        env.update({
            "AGG_UUID": agg, "CN1_UUID": cn1, "CN2_UUID": cn2, "SS_UUID": ss, "SS2_UUID": ss2,
            "NUMA1_1_UUID": numa1_1, "NUMA1_2_UUID": numa1_2, "NUMA2_1_UUID": numa2_1, "NUMA2_2_UUID": numa2_2,
            "PF1_1_UUID": pf1_1, "PF1_2_UUID": pf1_2, "PF2_1_UUID": pf2_1, "PF2_2_UUID": pf2_2,
        })
        for cn in (cn1, cn2):
            api.add_inventory(cn, "VCPU", 24, allocation_ratio=16.0)
            api.add_inventory(cn, "MEMORY_MB", 128 * 1024, allocation_ratio=1.5)
        api.set_traits(cn1, "HW_CPU_X86_SSE", "HW_CPU_X86_SSE2")
        api.add_inventory(cn2, "DISK_GB", 2000, reserved=100, allocation_ratio=1.0)
        for shared in (ss, ss2):
            api.add_inventory(shared, "DISK_GB", 2000, reserved=100, allocation_ratio=1.0)
            api.set_traits(shared, "MISC_SHARES_VIA_AGGREGATE")
        for pf in (pf1_1, pf1_2, pf2_1, pf2_2):
            api.add_inventory(pf, "SRIOV_NET_VF", 8, allocation_ratio=1.0)


class NUMAAggregateFixture(GabbitFixture):
    """Two resource-less compute nodes whose NUMA children carry the VCPU.

    aggA: cn1, cn2, ss1; aggB: cn2; aggC: numa1_1, ss2. Every NUMA node has
    VCPU 24 (x16); ss1 and ss2 share DISK_GB 2000 (reserved 100).
    """

    def populate(self, api: Api, env: dict[str, str]) -> None:
        agg_a, agg_b, agg_c = _new_uuid(), _new_uuid(), _new_uuid()
        cn1 = api.create_provider("cn1", agg_a)
        cn2 = api.create_provider("cn2", agg_a, agg_b)
        ss1 = api.create_provider("ss1", agg_a)
        ss2 = api.create_provider("ss2", agg_c)
        numa1_1 = api.create_provider("numa1_1", agg_c, parent=cn1)
        numa1_2 = api.create_provider("numa1_2", parent=cn1)
        numa2_1 = api.create_provider("numa2_1", parent=cn2)
        numa2_2 = api.create_provider("numa2_2", parent=cn2)
        env.update({
            "AGGA_UUID": agg_a, "AGGB_UUID": agg_b, "AGGC_UUID": agg_c,
            "CN1_UUID": cn1, "CN2_UUID": cn2, "SS1_UUID": ss1, "SS2_UUID": ss2,
            "NUMA1_1_UUID": numa1_1, "NUMA1_2_UUID": numa1_2, "NUMA2_1_UUID": numa2_1, "NUMA2_2_UUID": numa2_2,
        })
        for numa in (numa1_1, numa1_2, numa2_1, numa2_2):
            api.add_inventory(numa, "VCPU", 24, allocation_ratio=16.0)
        for ss in (ss1, ss2):
            api.add_inventory(ss, "DISK_GB", 2000, reserved=100, allocation_ratio=1.0)
            api.set_traits(ss, "MISC_SHARES_VIA_AGGREGATE")


class NUMANetworkFixture(GabbitFixture):
    """Compute hosts with NUMA, device and network-agent subtrees.

    cn1 (aggA, COMPUTE_VOLUME_MULTI_ATTACH, no inventory) has:
      numa0 (HW_NUMA_ROOT; VCPU 4 with 2 allocated; MEMORY_MB 2048 min 512
      step 256) with fpga0 (FPGA 1) and pgpu0 (VGPU 8); numa1 (HW_NUMA_ROOT,
      CUSTOM_FOO; VCPU 4; MEMORY_MB 2048 min 256 max 1024) with fpga1_0 and
      fpga1_1 (FPGA 1 each); sriov_agent (CUSTOM_VNIC_TYPE_DIRECT) with esn1
      (CUSTOM_PHYSNET1, NET_BW_EGR 10000) and esn2 (CUSTOM_PHYSNET2, 20000);
      ovs_agent (CUSTOM_VNIC_TYPE_NORMAL) with br_int (CUSTOM_PHYSNET0, 1000).
    cn2 (aggA, CUSTOM_FOO; VCPU 8 with 3 allocated; MEMORY_MB 2048 min 1024
      step 128; DISK_GB 1000) has nic1..nic3 (CUSTOM_HW_NIC_ROOT) with PFs
      offering CUSTOM_VF on CUSTOM_PHYSNET1/2.
    ss1 (aggA) shares DISK_GB 2000.
    The allocations belong to user ``numafx-user``, project ``numafx-project``.
    """

    def make_parents(self, api: Api) -> tuple[str | None, str | None]:
        """Hook: pre-create cn1/cn2 (DeepNUMANetworkFixture gives them parents)."""
        return None, None

    def populate(self, api: Api, env: dict[str, str]) -> None:
        cn1, cn2 = self.make_parents(api)
        agg_a = _new_uuid()
        env["AGGA_UUID"] = agg_a

        ss1 = api.create_provider("ss1", agg_a)
        api.set_traits(ss1, "MISC_SHARES_VIA_AGGREGATE")
        api.add_inventory(ss1, "DISK_GB", 2000)
        env["SS1_UUID"] = ss1

        if cn1 is None:
            cn1 = api.create_provider("cn1", agg_a)
        api.set_aggregates(cn1, [agg_a])
        api.set_traits(cn1, "COMPUTE_VOLUME_MULTI_ATTACH")
        env["CN1_UUID"] = cn1

        numas = []
        for i in (0, 1):
            numa = api.create_provider(f"numa{i}", parent=cn1)
            api.set_traits(numa, *(["HW_NUMA_ROOT", "CUSTOM_FOO"] if i == 1 else ["HW_NUMA_ROOT"]))
            api.add_inventory(numa, "VCPU", 4)
            numas.append(numa)
            env[f"NUMA{i}_UUID"] = numa
        api.add_inventory(numas[0], "MEMORY_MB", 2048, min_unit=512, step_size=256)
        api.add_inventory(numas[1], "MEMORY_MB", 2048, min_unit=256, max_unit=1024)
        user, project = "numafx-user", "numafx-project"
        api.set_allocation(numas[0], _new_uuid(), {"VCPU": 2}, project_id=project, user_id=user)

        fpga0 = api.create_provider("fpga0", parent=numas[0])
        api.add_inventory(fpga0, "FPGA", 1)
        env["FPGA0_UUID"] = fpga0
        pgpu0 = api.create_provider("pgpu0", parent=numas[0])
        api.add_inventory(pgpu0, "VGPU", 8)
        env["PGPU0_UUID"] = pgpu0
        for i in (0, 1):
            fpga = api.create_provider(f"fpga1_{i}", parent=numas[1])
            api.add_inventory(fpga, "FPGA", 1)
            env[f"FPGA1_{i}_UUID"] = fpga

        sriov = api.create_provider("sriov_agent", parent=cn1)
        api.set_traits(sriov, "CUSTOM_VNIC_TYPE_DIRECT")
        env["SRIOV_AGENT_UUID"] = sriov
        for i in (1, 2):
            esn = api.create_provider(f"esn{i}", parent=sriov)
            api.set_traits(esn, f"CUSTOM_PHYSNET{i}")
            api.add_inventory(esn, "NET_BW_EGR_KILOBIT_PER_SEC", 10000 * i)
            env[f"ESN{i}_UUID"] = esn

        ovs = api.create_provider("ovs_agent", parent=cn1)
        api.set_traits(ovs, "CUSTOM_VNIC_TYPE_NORMAL")
        env["OVS_AGENT_UUID"] = ovs
        br_int = api.create_provider("br_int", parent=ovs)
        api.set_traits(br_int, "CUSTOM_PHYSNET0")
        api.add_inventory(br_int, "NET_BW_EGR_KILOBIT_PER_SEC", 1000)
        env["BR_INT_UUID"] = br_int

        if cn2 is None:
            cn2 = api.create_provider("cn2")
        api.set_aggregates(cn2, [agg_a])
        api.add_inventory(cn2, "VCPU", 8)
        api.set_allocation(cn2, _new_uuid(), {"VCPU": 3}, project_id=project, user_id=user)
        api.add_inventory(cn2, "MEMORY_MB", 2048, min_unit=1024, step_size=128)
        api.add_inventory(cn2, "DISK_GB", 1000)
        api.set_traits(cn2, "CUSTOM_FOO")
        env["CN2_UUID"] = cn2

        nics = []
        for i in (1, 2, 3):
            nic = api.create_provider(f"nic{i}", parent=cn2)
            api.set_traits(nic, "CUSTOM_HW_NIC_ROOT")
            nics.append(nic)
            env[f"NIC{i}_UUID"] = nic
        for i in (1, 2):  # NIC1: two PFs, 4 VFs each, physnets 1 and 2
            pf = api.create_provider(f"pf1_{i}", parent=nics[0])
            api.set_traits(pf, f"CUSTOM_PHYSNET{i}")
            api.add_inventory(pf, "CUSTOM_VF", 4)
            env[f"PF1_{i}_UUID"] = pf
        for i in (0, 1, 2, 3):  # NIC2: four PFs, 2 VFs each, alternating physnets
            pf = api.create_provider(f"pf2_{i + 1}", parent=nics[1])
            api.set_traits(pf, f"CUSTOM_PHYSNET{(i % 2) + 1}")
            api.add_inventory(pf, "CUSTOM_VF", 2)
            env[f"PF2_{i + 1}_UUID"] = pf
        pf = api.create_provider("pf3_1", parent=nics[2])  # NIC3: one PF, 8 VFs
        api.set_traits(pf, "CUSTOM_PHYSNET1")
        api.add_inventory(pf, "CUSTOM_VF", 8)
        env["PF3_1_UUID"] = pf


class DeepNUMANetworkFixture(NUMANetworkFixture):
    """NUMANetworkFixture with cn1 and cn2 under p1 and p2, both under gp1."""

    def make_parents(self, api: Api) -> tuple[str | None, str | None]:
        gp1 = api.create_provider("gp1")
        p1 = api.create_provider("p1", parent=gp1)
        p2 = api.create_provider("p2", parent=gp1)
        cn1 = api.create_provider("cn1", parent=p1)
        cn2 = api.create_provider("cn2", parent=p2)
        return cn1, cn2


class NonSharedStorageFixture(GabbitFixture):
    """Three compute nodes with VCPU 24, MEMORY_MB 131072, DISK_GB 2000.

    AGGA/B/C_UUID are exported but not associated with anything.
    """

    def populate(self, api: Api, env: dict[str, str]) -> None:
        env.update({"AGGA_UUID": _new_uuid(), "AGGB_UUID": _new_uuid(), "AGGC_UUID": _new_uuid()})
        cns = [api.create_provider(name) for name in ("cn1", "cn2", "cn3")]
        env.update({"CN1_UUID": cns[0], "CN2_UUID": cns[1], "CN3_UUID": cns[2]})
        for cn in cns:
            api.add_inventory(cn, "VCPU", 24)
            api.add_inventory(cn, "MEMORY_MB", 128 * 1024)
            api.add_inventory(cn, "DISK_GB", 2000)


class GranularFixture(GabbitFixture):
    """Three compute nodes and three sharing providers over aggregates A, B, C.

    cn_left (aggA): VCPU 8, MEMORY_MB 4096, DISK_GB 500, VGPU 8,
      SRIOV_NET_VF 8, CUSTOM_NET_MBPS 4000; AVX, AVX2, DXVA, DCB_PFC, CUSTOM_FOO.
    cn_middle (aggA, aggB): VCPU 8, MEMORY_MB 4096, SRIOV_NET_VF 8,
      CUSTOM_NET_MBPS 4000; AVX, AVX2, SSE, NIC_ACCEL_TLS.
    cn_right (aggB, aggC): VCPU 8, MEMORY_MB 4096, DISK_GB 500, VGPU 8
      (max_unit 2); MMX, DXVA, CUSTOM_DISK_SSD.
    shr_disk_1 (aggA): DISK_GB 1000; sharing, CUSTOM_DISK_SSD.
    shr_disk_2 (aggA, aggB): DISK_GB 1000; sharing.
    shr_net (aggC): SRIOV_NET_VF 16, CUSTOM_NET_MBPS 40000; sharing.
    """

    def populate(self, api: Api, env: dict[str, str]) -> None:
        api.ensure_resource_class("CUSTOM_NET_MBPS")
        agg_a, agg_b, agg_c = _new_uuid(), _new_uuid(), _new_uuid()
        env.update({"AGGA": agg_a, "AGGB": agg_b, "AGGC": agg_c})

        left = api.create_provider("cn_left", agg_a)
        env["CN_LEFT"] = left
        for rc, total in (("VCPU", 8), ("MEMORY_MB", 4096), ("DISK_GB", 500), ("VGPU", 8),
                          ("SRIOV_NET_VF", 8), ("CUSTOM_NET_MBPS", 4000)):
            api.add_inventory(left, rc, total)
        api.set_traits(left, "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_GPU_API_DXVA", "HW_NIC_DCB_PFC", "CUSTOM_FOO")

        middle = api.create_provider("cn_middle", agg_a, agg_b)
        env["CN_MIDDLE"] = middle
        for rc, total in (("VCPU", 8), ("MEMORY_MB", 4096), ("SRIOV_NET_VF", 8), ("CUSTOM_NET_MBPS", 4000)):
            api.add_inventory(middle, rc, total)
        api.set_traits(middle, "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_NIC_ACCEL_TLS")

        right = api.create_provider("cn_right", agg_b, agg_c)
        env["CN_RIGHT"] = right
        api.add_inventory(right, "VCPU", 8)
        api.add_inventory(right, "MEMORY_MB", 4096)
        api.add_inventory(right, "DISK_GB", 500)
        api.add_inventory(right, "VGPU", 8, max_unit=2)
        api.set_traits(right, "HW_CPU_X86_MMX", "HW_GPU_API_DXVA", "CUSTOM_DISK_SSD")

        disk1 = api.create_provider("shr_disk_1", agg_a)
        env["SHR_DISK_1"] = disk1
        api.add_inventory(disk1, "DISK_GB", 1000)
        api.set_traits(disk1, "MISC_SHARES_VIA_AGGREGATE", "CUSTOM_DISK_SSD")

        disk2 = api.create_provider("shr_disk_2", agg_a, agg_b)
        env["SHR_DISK_2"] = disk2
        api.add_inventory(disk2, "DISK_GB", 1000)
        api.set_traits(disk2, "MISC_SHARES_VIA_AGGREGATE")

        net = api.create_provider("shr_net", agg_c)
        env["SHR_NET"] = net
        api.add_inventory(net, "SRIOV_NET_VF", 16)
        api.add_inventory(net, "CUSTOM_NET_MBPS", 40000)
        api.set_traits(net, "MISC_SHARES_VIA_AGGREGATE")


class NeutronQoSMultiSegmentFixture(GabbitFixture):
    """Four compute trees shaped like Neutron's QoS minimum bandwidth and
    packet rate reporting on a multi-segment network.

    Each ``computeN`` (VCPU 8, MEMORY_MB 4096, DISK_GB 500) has an
    ``Open vSwitch agent`` child (NET_PACKET_RATE_KILOPACKET_PER_SEC 1000,
    CUSTOM_VNIC_TYPE_NORMAL) with bridge children offering egress/ingress
    bandwidth, and a ``NIC Switch agent`` child (direct/direct-physical/macvtap
    VNIC types, no inventory) with PF children offering bandwidth. The physnet
    traits say which segment a device reaches: compute0 OTHER, compute1
    MSN_S1, compute2 MSN_S2; compute3 reaches both segments through two
    bridges and two PFs, each with only 1000 of bandwidth.
    """

    _SRIOV_TRAITS = ("CUSTOM_VNIC_TYPE_DIRECT", "CUSTOM_VNIC_TYPE_DIRECT_PHYSICAL", "CUSTOM_VNIC_TYPE_MACVTAP")

    def _device(self, api: Api, name: str, parent: str, bandwidth: int, traits: tuple[str, ...]) -> str:
        dev = api.create_provider(name, parent=parent)
        api.add_inventory(dev, "NET_BW_EGR_KILOBIT_PER_SEC", bandwidth)
        api.add_inventory(dev, "NET_BW_IGR_KILOBIT_PER_SEC", bandwidth)
        api.set_traits(dev, *traits)
        return dev

    def populate(self, api: Api, env: dict[str, str]) -> None:
        sriov_agents: dict[int, str] = {}
        for n, physnet in ((0, "CUSTOM_PHYSNET_OTHER"), (1, "CUSTOM_PHYSNET_MSN_S1"), (2, "CUSTOM_PHYSNET_MSN_S2")):
            cn = f"compute{n}"
            root = api.create_provider(cn)
            env[cn] = root
            api.add_inventory(root, "VCPU", 8)
            api.add_inventory(root, "MEMORY_MB", 4096)
            api.add_inventory(root, "DISK_GB", 500)

            ovs = api.create_provider(f"{cn}:Open vSwitch agent", parent=root)
            env[f"{cn}:ovs_agent"] = ovs
            api.add_inventory(ovs, "NET_PACKET_RATE_KILOPACKET_PER_SEC", 1000)
            api.set_traits(ovs, "CUSTOM_VNIC_TYPE_NORMAL")
            env[f"{cn}:br_ex"] = self._device(
                api, f"{cn}:Open vSwitch agent:br-ex", ovs, 5000, ("CUSTOM_VNIC_TYPE_NORMAL", physnet))

            sriov = api.create_provider(f"{cn}:NIC Switch agent", parent=root)
            sriov_agents[n] = sriov
            env[f"{cn}:sriov_agent"] = sriov
            api.set_traits(sriov, *self._SRIOV_TRAITS)
            env[f"{cn}:pf0"] = self._device(
                api, f"{cn}:NIC Switch agent:enp129s0f0", sriov, 10000, (*self._SRIOV_TRAITS, physnet))

        # compute3: connected to both segments, little bandwidth everywhere.
        cn = "compute3"
        root = api.create_provider(cn)
        env[cn] = root
        api.add_inventory(root, "VCPU", 8)
        api.add_inventory(root, "MEMORY_MB", 4096)
        api.add_inventory(root, "DISK_GB", 500)
        ovs = api.create_provider(f"{cn}:Open vSwitch agent", parent=root)
        env[f"{cn}:ovs_agent"] = ovs
        api.add_inventory(ovs, "NET_PACKET_RATE_KILOPACKET_PER_SEC", 1000)
        api.set_traits(ovs, "CUSTOM_VNIC_TYPE_NORMAL")
        env[f"{cn}:br_ex"] = self._device(
            api, f"{cn}:Open vSwitch agent:br-ex", ovs, 1000, ("CUSTOM_VNIC_TYPE_NORMAL", "CUSTOM_PHYSNET_MSN_S1"))
        env[f"{cn}:br_ex2"] = self._device(
            api, f"{cn}:Open vSwitch agent:br-ex2", ovs, 1000, ("CUSTOM_VNIC_TYPE_NORMAL", "CUSTOM_PHYSNET_MSN_S2"))
        sriov = api.create_provider(f"{cn}:NIC Switch agent", parent=root)
        # Upstream exports compute2's agent under this name (a slip in its
        # fixture); the value is kept identical so the files see the same data.
        env[f"{cn}:sriov_agent"] = sriov_agents[2]
        api.set_traits(sriov, *self._SRIOV_TRAITS)
        env[f"{cn}:pf0"] = self._device(
            api, f"{cn}:NIC Switch agent:enp129s0f0", sriov, 1000, (*self._SRIOV_TRAITS, "CUSTOM_PHYSNET_MSN_S1"))
        env[f"{cn}:pf1"] = self._device(
            api, f"{cn}:NIC Switch agent:enp129s0f1", sriov, 1000, (*self._SRIOV_TRAITS, "CUSTOM_PHYSNET_MSN_S2"))


FIXTURES: dict[str, type[GabbitFixture]] = {
    cls.__name__: cls
    for cls in (
        APIFixture, AllocationFixture, SharedStorageFixture, NUMAAggregateFixture, NUMANetworkFixture,
        DeepNUMANetworkFixture, NonSharedStorageFixture, CORSFixture, GranularFixture, OpenPolicyFixture,
        SecureRBACPolicyFixture, LegacyRBACPolicyFixture, NeutronQoSMultiSegmentFixture,
    )
}


def fixture_for(names: Iterable[str] | None) -> GabbitFixture:
    """The fixture object for a gabbit file's ``fixtures:`` list.

    Every upstream file names exactly one fixture; an empty list means the
    plain API fixture.
    """
    names = list(names or ["APIFixture"])
    unknown = [n for n in names if n not in FIXTURES]
    if unknown:
        raise KeyError(f"no conformance fixture named {', '.join(unknown)}")
    if len(names) != 1:
        raise ValueError(f"expected exactly one fixture per gabbit file, got {names}")
    return FIXTURES[names[0]]()
